CREATE TABLE `probe_cancel_requests` (
	`run_id` text PRIMARY KEY NOT NULL,
	`requested_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `probe_schedule_claims` (
	`upstream` text PRIMARY KEY NOT NULL,
	`claimed_at` integer NOT NULL
);
