DROP INDEX `exchanges_upstream_outcome_started_idx`;--> statement-breakpoint
DROP INDEX `exchanges_outcome_started_idx`;--> statement-breakpoint
DROP INDEX `exchanges_probe_run_idx`;--> statement-breakpoint
CREATE INDEX `exchanges_expired_upstream_started_idx` ON `exchanges` (`upstream`,`started_at`) WHERE "exchanges"."outcome" = 'session_expired';--> statement-breakpoint
CREATE INDEX `exchanges_expired_started_idx` ON `exchanges` (`started_at`) WHERE "exchanges"."outcome" = 'session_expired';