CREATE TABLE "usage_event_ids" (
	"id" text PRIMARY KEY NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "usage_event_ids_time_brin" ON "usage_event_ids" USING brin ("occurred_at");--> statement-breakpoint
-- Hand SQL from here (Drizzle cannot declare partitioning; docs/decisions.md, "Partitioned usage
-- events"): usage_events becomes range-partitioned by UTC month of occurred_at. The existing table
-- is renamed, a partitioned one with the same columns, checks, key (now (id, occurred_at)), foreign
-- keys and indexes takes its name, its rows move into one partition per month, and every id is
-- registered in usage_event_ids. Nothing references usage_events by foreign key.
ALTER TABLE "usage_events" RENAME TO "usage_events_unpartitioned";--> statement-breakpoint
ALTER TABLE "usage_events_unpartitioned" RENAME CONSTRAINT "usage_events_pkey" TO "usage_events_unpartitioned_pkey";--> statement-breakpoint
ALTER INDEX "usage_events_time_brin" RENAME TO "usage_events_unpartitioned_time_brin";--> statement-breakpoint
ALTER INDEX "usage_events_unpriced_idx" RENAME TO "usage_events_unpartitioned_unpriced_idx";--> statement-breakpoint
CREATE TABLE "usage_events" (
	"id" text NOT NULL,
	"agent_id" uuid NOT NULL,
	"org_id" uuid NOT NULL,
	"model" text NOT NULL,
	"provider" text,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cache_read_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_write_tokens" bigint DEFAULT 0 NOT NULL,
	"cost_usd" numeric(38, 18),
	"cost_from_event" boolean NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"content_hash" text NOT NULL,
	CONSTRAINT "usage_events_pkey" PRIMARY KEY("id","occurred_at"),
	CONSTRAINT "usage_events_id_check" CHECK (length("usage_events"."id") between 1 and 128),
	CONSTRAINT "usage_events_tokens_check" CHECK ("usage_events"."input_tokens" >= 0 and "usage_events"."output_tokens" >= 0 and "usage_events"."cache_read_tokens" >= 0 and "usage_events"."cache_write_tokens" >= 0),
	CONSTRAINT "usage_events_cost_check" CHECK ("usage_events"."cost_usd" is null or "usage_events"."cost_usd" >= 0),
	CONSTRAINT "usage_events_cost_source_check" CHECK (not "usage_events"."cost_from_event" or "usage_events"."cost_usd" is not null)
) PARTITION BY RANGE ("occurred_at");--> statement-breakpoint
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "usage_events_time_brin" ON "usage_events" USING brin ("occurred_at");--> statement-breakpoint
CREATE INDEX "usage_events_unpriced_idx" ON "usage_events" USING btree ("model","occurred_at") WHERE "usage_events"."cost_usd" is null;--> statement-breakpoint
-- The one way a month's partition comes to be (this migration, the job creating months ahead, and
-- ingestion when a batch meets a month without one): usage_events_pYYYYMM, created on its own and
-- then attached, which locks the parent only in SHARE UPDATE EXCLUSIVE mode (inserts go on), under
-- an advisory lock so that concurrent callers create it once. Returns whether it created it.
CREATE FUNCTION "usage_events_ensure_partition"("month" date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  part text := 'usage_events_p' || to_char("month", 'YYYYMM');
BEGIN
  IF extract(day FROM "month") <> 1 THEN
    RAISE EXCEPTION 'usage_events_ensure_partition: % is not the first day of a month', "month";
  END IF;
  PERFORM pg_advisory_xact_lock(74263314);
  IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE public.%I (LIKE public.usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
  EXECUTE format('ALTER TABLE public.usage_events ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
    part, "month"::timestamp AT TIME ZONE 'UTC', ("month" + interval '1 month')::timestamp AT TIME ZONE 'UTC');
  RETURN true;
END $$;--> statement-breakpoint
SELECT "usage_events_ensure_partition"(m) FROM (
	SELECT DISTINCT date_trunc('month', "occurred_at" AT TIME ZONE 'UTC')::date AS m FROM "usage_events_unpartitioned"
	UNION SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date
	UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date
) months ORDER BY m;--> statement-breakpoint
INSERT INTO "usage_events" SELECT "id", "agent_id", "org_id", "model", "provider", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
	"cost_usd", "cost_from_event", "occurred_at", "received_at", "content_hash" FROM "usage_events_unpartitioned";--> statement-breakpoint
INSERT INTO "usage_event_ids" ("id", "occurred_at") SELECT "id", "occurred_at" FROM "usage_events_unpartitioned" ORDER BY "occurred_at";--> statement-breakpoint
DROP TABLE "usage_events_unpartitioned";
