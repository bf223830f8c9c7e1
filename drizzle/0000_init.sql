CREATE TABLE `exchanges` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`upstream` text NOT NULL,
	`source` text NOT NULL,
	`probe_run_id` text,
	`transport` text NOT NULL,
	`session_hash` text,
	`http_method` text NOT NULL,
	`rpc_method` text,
	`rpc_count` integer NOT NULL,
	`tool_name` text,
	`rpc_id` text,
	`started_at` integer NOT NULL,
	`headers_at` integer,
	`response_at` integer,
	`ended_at` integer,
	`http_status` integer,
	`outcome` text NOT NULL,
	`confidence` text,
	`idle_gap_ms` real,
	`session_age_ms` real,
	`stream_attached` integer NOT NULL,
	`exchanges_before` integer,
	`protocol_version` text,
	`caller_hash` text,
	`rpc_error_code` integer,
	`error_message` text
);
--> statement-breakpoint
CREATE INDEX `exchanges_upstream_started_idx` ON `exchanges` (`upstream`,`started_at`);--> statement-breakpoint
CREATE INDEX `exchanges_upstream_outcome_started_idx` ON `exchanges` (`upstream`,`outcome`,`started_at`);--> statement-breakpoint
CREATE INDEX `exchanges_outcome_started_idx` ON `exchanges` (`outcome`,`started_at`);--> statement-breakpoint
CREATE INDEX `exchanges_probe_run_idx` ON `exchanges` (`probe_run_id`);--> statement-breakpoint
CREATE TABLE `probe_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`mode` text NOT NULL,
	`upstreams` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`result` text
);
--> statement-breakpoint
CREATE INDEX `probe_runs_started_idx` ON `probe_runs` (`started_at`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`upstream` text NOT NULL,
	`source` text NOT NULL,
	`session_hash` text NOT NULL,
	`transport` text NOT NULL,
	`opened_at` integer NOT NULL,
	`adopted` integer NOT NULL,
	`init_latency_ms` real,
	`initialized_at` integer,
	`protocol_version` text,
	`client_name` text,
	`client_version` text,
	`server_name` text,
	`server_version` text,
	`exchanges` integer NOT NULL,
	`last_activity_at` integer NOT NULL,
	`ended_at` integer,
	`end_reason` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sessions_upstream_source_hash_uq` ON `sessions` (`upstream`,`source`,`session_hash`);--> statement-breakpoint
CREATE INDEX `sessions_upstream_opened_idx` ON `sessions` (`upstream`,`opened_at`);--> statement-breakpoint
CREATE INDEX `sessions_opened_idx` ON `sessions` (`opened_at`);--> statement-breakpoint
CREATE TABLE `upstreams` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`transport` text NOT NULL,
	`stateless` integer,
	`validates_session_ids` integer,
	`updated_at` integer NOT NULL
);
