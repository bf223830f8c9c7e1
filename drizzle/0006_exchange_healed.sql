ALTER TABLE `exchanges` ADD `healed` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `exchanges` ADD `heal_latency_ms` real;