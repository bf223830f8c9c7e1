CREATE TABLE `exchange_id_blocks` (
	`block` integer PRIMARY KEY NOT NULL
);
