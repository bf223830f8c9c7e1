PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_exchanges` (
	`id` integer PRIMARY KEY NOT NULL,
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
INSERT INTO `__new_exchanges`("id", "upstream", "source", "probe_run_id", "transport", "session_hash", "http_method", "rpc_method", "rpc_count", "tool_name", "rpc_id", "started_at", "headers_at", "response_at", "ended_at", "http_status", "outcome", "confidence", "idle_gap_ms", "session_age_ms", "stream_attached", "exchanges_before", "protocol_version", "caller_hash", "rpc_error_code", "error_message") SELECT "id", "upstream", "source", "probe_run_id", "transport", "session_hash", "http_method", "rpc_method", "rpc_count", "tool_name", "rpc_id", "started_at", "headers_at", "response_at", "ended_at", "http_status", "outcome", "confidence", "idle_gap_ms", "session_age_ms", "stream_attached", "exchanges_before", "protocol_version", "caller_hash", "rpc_error_code", "error_message" FROM `exchanges`;--> statement-breakpoint
DROP TABLE `exchanges`;--> statement-breakpoint
ALTER TABLE `__new_exchanges` RENAME TO `exchanges`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `exchanges_upstream_started_idx` ON `exchanges` (`upstream`,`started_at`);--> statement-breakpoint
CREATE INDEX `exchanges_expired_upstream_started_idx` ON `exchanges` (`upstream`,`started_at`) WHERE "exchanges"."outcome" = 'session_expired';--> statement-breakpoint
CREATE INDEX `exchanges_expired_started_idx` ON `exchanges` (`started_at`) WHERE "exchanges"."outcome" = 'session_expired';