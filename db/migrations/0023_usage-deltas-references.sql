ALTER TABLE "usage_month_deltas" DROP CONSTRAINT "usage_month_deltas_org_id_organizations_id_fk";
--> statement-breakpoint
ALTER TABLE "usage_month_deltas" DROP CONSTRAINT "usage_month_deltas_agent_id_agents_id_fk";
--> statement-breakpoint
-- Hand SQL (docs/scaling.md, "Rollup deltas"): usage_month_deltas gets the check usage_events has
-- (migration 0021) instead of its two per-row foreign keys. An ingestion batch appends up to one
-- delta row per event (a key is an organization, agent, model and month), so the foreign keys cost two
-- key-share lookups per event again. The check function now names the table it checks and reads the
-- statement's rows once.
CREATE OR REPLACE FUNCTION "usage_events_check_references"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  agent_ids uuid[];
  org_ids uuid[];
  locked int;
  missing uuid;
BEGIN
  -- One pass over the statement's rows (it was four), then the same key-share locks in key order.
  SELECT array_agg(DISTINCT "agent_id"), array_agg(DISTINCT "org_id") INTO agent_ids, org_ids FROM written;
  IF agent_ids IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT count(*) INTO locked FROM (SELECT 1 FROM "agents" a WHERE a."id" = ANY (agent_ids) ORDER BY a."id" FOR KEY SHARE OF a) l;
  IF locked < cardinality(agent_ids) THEN
    SELECT n INTO missing FROM unnest(agent_ids) n WHERE NOT EXISTS (SELECT 1 FROM "agents" a WHERE a."id" = n) LIMIT 1;
    RAISE EXCEPTION '%: agent % does not exist', TG_TABLE_NAME, missing
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_TABLE_NAME || '_agent_id_check';
  END IF;
  SELECT count(*) INTO locked FROM (SELECT 1 FROM "organizations" o WHERE o."id" = ANY (org_ids) ORDER BY o."id" FOR KEY SHARE OF o) l;
  IF locked < cardinality(org_ids) THEN
    SELECT n INTO missing FROM unnest(org_ids) n WHERE NOT EXISTS (SELECT 1 FROM "organizations" o WHERE o."id" = n) LIMIT 1;
    RAISE EXCEPTION '%: organization % does not exist', TG_TABLE_NAME, missing
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_TABLE_NAME || '_org_id_check';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "usage_month_deltas_references_insert" AFTER INSERT ON "usage_month_deltas"
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "usage_events_check_references"();--> statement-breakpoint
CREATE TRIGGER "usage_month_deltas_references_update" AFTER UPDATE ON "usage_month_deltas"
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "usage_events_check_references"();--> statement-breakpoint
-- The parent side: an agent or organization with pending deltas cannot be deleted either. The check
-- reads with the deleting transaction's snapshot: at read committed, a delete that waited for a
-- writer's key-share lock takes a new one and sees the writer's rows; at repeatable read it would
-- not (the deltas' foreign keys caught that case with their own cross-check), so such a delete is
-- refused there. The product deletes neither (organizations are soft-deleted, agents archived).
CREATE OR REPLACE FUNCTION "usage_events_refuse_parent_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'usage_events: % are deleted at read committed only (a % snapshot could miss usage being ingested)', TG_TABLE_NAME, current_setting('transaction_isolation')
      USING ERRCODE = 'feature_not_supported';
  END IF;
  IF TG_TABLE_NAME = 'agents' THEN
    PERFORM 1 FROM "usage_events" WHERE "agent_id" = OLD."id" LIMIT 1;
    IF NOT FOUND THEN
      PERFORM 1 FROM "usage_month_deltas" WHERE "agent_id" = OLD."id" LIMIT 1;
    END IF;
  ELSE
    PERFORM 1 FROM "usage_events" WHERE "org_id" = OLD."id" LIMIT 1;
    IF NOT FOUND THEN
      PERFORM 1 FROM "usage_month_deltas" WHERE "org_id" = OLD."id" LIMIT 1;
    END IF;
  END IF;
  IF FOUND THEN
    RAISE EXCEPTION 'usage_events: % % has usage events and cannot be deleted', TG_TABLE_NAME, OLD."id"
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN OLD;
END $$;
