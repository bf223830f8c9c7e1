CREATE SEQUENCE "public"."exchange_id_blocks" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "credentials" (
	"upstream" text NOT NULL,
	"credential_hash" text NOT NULL,
	"first_seen_at" bigint NOT NULL,
	"last_ok_at" bigint,
	"first_rejected_at" bigint
);
--> statement-breakpoint
CREATE TABLE "exchanges" (
	"id" bigint PRIMARY KEY NOT NULL,
	"upstream" text NOT NULL,
	"source" text NOT NULL,
	"probe_run_id" text,
	"transport" text NOT NULL,
	"session_hash" text,
	"http_method" text NOT NULL,
	"rpc_method" text,
	"rpc_count" integer NOT NULL,
	"tool_name" text,
	"rpc_id" text,
	"started_at" bigint NOT NULL,
	"headers_at" bigint,
	"response_at" bigint,
	"ended_at" bigint,
	"http_status" integer,
	"outcome" text NOT NULL,
	"confidence" text,
	"idle_gap_ms" double precision,
	"session_age_ms" double precision,
	"stream_attached" boolean NOT NULL,
	"exchanges_before" integer,
	"protocol_version" text,
	"era" text,
	"upstream_versions" text,
	"caller_hash" text,
	"rpc_error_code" integer,
	"error_message" text,
	"healed" boolean DEFAULT false NOT NULL,
	"heal_latency_ms" double precision
);
--> statement-breakpoint
CREATE TABLE "probe_cancel_requests" (
	"run_id" text PRIMARY KEY NOT NULL,
	"requested_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "probe_runs" (
	"id" text PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"mode" text NOT NULL,
	"upstreams" jsonb NOT NULL,
	"started_at" bigint NOT NULL,
	"finished_at" bigint,
	"heartbeat_at" bigint,
	"result" jsonb
);
--> statement-breakpoint
CREATE TABLE "probe_schedule_claims" (
	"upstream" text PRIMARY KEY NOT NULL,
	"claimed_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" serial PRIMARY KEY NOT NULL,
	"upstream" text NOT NULL,
	"source" text NOT NULL,
	"session_hash" text NOT NULL,
	"transport" text NOT NULL,
	"opened_at" bigint NOT NULL,
	"adopted" boolean NOT NULL,
	"init_latency_ms" double precision,
	"initialized_at" bigint,
	"protocol_version" text,
	"client_name" text,
	"client_version" text,
	"server_name" text,
	"server_version" text,
	"exchanges" integer NOT NULL,
	"last_activity_at" bigint NOT NULL,
	"ended_at" bigint,
	"end_reason" text
);
--> statement-breakpoint
CREATE TABLE "upstreams" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"url" text NOT NULL,
	"transport" text NOT NULL,
	"stateless" boolean,
	"validates_session_ids" boolean,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "credentials_upstream_hash" ON "credentials" USING btree ("upstream","credential_hash");--> statement-breakpoint
CREATE INDEX "exchanges_upstream_started_idx" ON "exchanges" USING btree ("upstream","started_at");--> statement-breakpoint
CREATE INDEX "exchanges_expired_upstream_started_idx" ON "exchanges" USING btree ("upstream","started_at") WHERE "exchanges"."outcome" = 'session_expired';--> statement-breakpoint
CREATE INDEX "exchanges_expired_started_idx" ON "exchanges" USING btree ("started_at") WHERE "exchanges"."outcome" = 'session_expired';--> statement-breakpoint
CREATE INDEX "probe_runs_started_idx" ON "probe_runs" USING btree ("started_at");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_upstream_source_hash_uq" ON "sessions" USING btree ("upstream","source","session_hash");--> statement-breakpoint
CREATE INDEX "sessions_upstream_opened_idx" ON "sessions" USING btree ("upstream","opened_at");--> statement-breakpoint
CREATE INDEX "sessions_opened_idx" ON "sessions" USING btree ("opened_at");