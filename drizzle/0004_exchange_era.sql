ALTER TABLE `exchanges` ADD `era` text;--> statement-breakpoint
ALTER TABLE `exchanges` ADD `upstream_versions` text;