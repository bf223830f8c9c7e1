CREATE TABLE `credentials` (
	`upstream` text NOT NULL,
	`credential_hash` text NOT NULL,
	`first_seen_at` integer NOT NULL,
	`last_ok_at` integer,
	`first_rejected_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credentials_upstream_hash` ON `credentials` (`upstream`,`credential_hash`);