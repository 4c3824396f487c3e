ALTER TABLE "usage_events" DROP CONSTRAINT "usage_events_agent_id_agents_id_fk";
--> statement-breakpoint
ALTER TABLE "usage_events" DROP CONSTRAINT "usage_events_org_id_organizations_id_fk";
--> statement-breakpoint
-- Hand SQL (docs/decisions.md, "Partitioned usage events"): the per-row foreign keys of usage_events
-- (two RI trigger queries per event) are replaced by one check per statement. It key-share locks every
-- distinct agent, then every distinct organization, of the rows the statement wrote, in key order (the
-- lock the foreign keys took, and the order moves take: agent, then organization), and refuses the
-- statement when one is missing. A concurrent DELETE of one of them therefore either waits for the
-- writer and then meets its rows, or has committed first and the check fails.
CREATE FUNCTION "usage_events_check_references"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing uuid;
BEGIN
  PERFORM 1 FROM "agents" a WHERE a."id" IN (SELECT DISTINCT "agent_id" FROM written) ORDER BY a."id" FOR KEY SHARE OF a;
  SELECT n."agent_id" INTO missing FROM (SELECT DISTINCT "agent_id" FROM written) n
    WHERE NOT EXISTS (SELECT 1 FROM "agents" a WHERE a."id" = n."agent_id") LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'usage_events: agent % does not exist', missing
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'usage_events_agent_id_check';
  END IF;
  PERFORM 1 FROM "organizations" o WHERE o."id" IN (SELECT DISTINCT "org_id" FROM written) ORDER BY o."id" FOR KEY SHARE OF o;
  SELECT n."org_id" INTO missing FROM (SELECT DISTINCT "org_id" FROM written) n
    WHERE NOT EXISTS (SELECT 1 FROM "organizations" o WHERE o."id" = n."org_id") LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'usage_events: organization % does not exist', missing
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'usage_events_org_id_check';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "usage_events_references_insert" AFTER INSERT ON "usage_events"
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "usage_events_check_references"();--> statement-breakpoint
CREATE TRIGGER "usage_events_references_update" AFTER UPDATE ON "usage_events"
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "usage_events_check_references"();--> statement-breakpoint
-- The parent side: an agent or organization that has usage events cannot be deleted (the product never
-- deletes either: organizations are soft-deleted, agents archived). The row is locked before a BEFORE
-- DELETE trigger runs, so a writer holding the key-share lock above is waited for and its rows are seen.
CREATE FUNCTION "usage_events_refuse_parent_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'agents' THEN
    PERFORM 1 FROM "usage_events" WHERE "agent_id" = OLD."id" LIMIT 1;
  ELSE
    PERFORM 1 FROM "usage_events" WHERE "org_id" = OLD."id" LIMIT 1;
  END IF;
  IF FOUND THEN
    RAISE EXCEPTION 'usage_events: % % has usage events and cannot be deleted', TG_TABLE_NAME, OLD."id"
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN OLD;
END $$;--> statement-breakpoint
CREATE TRIGGER "agents_usage_refuse_delete" BEFORE DELETE ON "agents"
  FOR EACH ROW EXECUTE FUNCTION "usage_events_refuse_parent_delete"();--> statement-breakpoint
CREATE TRIGGER "organizations_usage_refuse_delete" BEFORE DELETE ON "organizations"
  FOR EACH ROW EXECUTE FUNCTION "usage_events_refuse_parent_delete"();
--> statement-breakpoint
CREATE TABLE "usage_month_deltas" (
	"org_id" uuid NOT NULL,
	"agent_id" uuid NOT NULL,
	"model" text NOT NULL,
	"month" date NOT NULL,
	"events" bigint NOT NULL,
	"unpriced_events" bigint NOT NULL,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cache_read_tokens" bigint NOT NULL,
	"cache_write_tokens" bigint NOT NULL,
	"cost_usd" numeric(38, 18) NOT NULL,
	CONSTRAINT "usage_month_deltas_month_check" CHECK (extract(day from "usage_month_deltas"."month") = 1)
);
--> statement-breakpoint
ALTER TABLE "usage_month_deltas" ADD CONSTRAINT "usage_month_deltas_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_month_deltas" ADD CONSTRAINT "usage_month_deltas_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Hand SQL: what every reader of monthly usage reads (docs/scaling.md, "Rollup deltas"). Conditions
-- on the key columns are pushed into both branches, so the folded side is still read by its key.
CREATE VIEW "usage_month_totals" AS
SELECT "org_id", "agent_id", "model", "month",
       sum("events")::bigint AS "events", sum("unpriced_events")::bigint AS "unpriced_events",
       sum("input_tokens")::bigint AS "input_tokens", sum("output_tokens")::bigint AS "output_tokens",
       sum("cache_read_tokens")::bigint AS "cache_read_tokens", sum("cache_write_tokens")::bigint AS "cache_write_tokens",
       sum("cost_usd")::numeric(38, 18) AS "cost_usd"
FROM (
  SELECT "org_id", "agent_id", "model", "month", "events", "unpriced_events", "input_tokens", "output_tokens",
         "cache_read_tokens", "cache_write_tokens", "cost_usd" FROM "usage_month_rollups"
  UNION ALL
  SELECT "org_id", "agent_id", "model", "month", "events", "unpriced_events", "input_tokens", "output_tokens",
         "cache_read_tokens", "cache_write_tokens", "cost_usd" FROM "usage_month_deltas"
) k
GROUP BY "org_id", "agent_id", "model", "month";
