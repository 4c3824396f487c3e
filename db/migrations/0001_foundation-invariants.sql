-- Invariants drizzle-kit cannot express: interval exclusion, the internal organization, and
-- refusing to place an agent in a deleted organization.
CREATE EXTENSION IF NOT EXISTS btree_gist;
--> statement-breakpoint
ALTER TABLE "agent_assignments" ADD CONSTRAINT "agent_assignments_no_overlap"
  EXCLUDE USING gist ("agent_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&);
--> statement-breakpoint
ALTER TABLE "agent_rate_periods" ADD CONSTRAINT "agent_rate_periods_no_overlap"
  EXCLUDE USING gist ("agent_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&);
--> statement-breakpoint
ALTER TABLE "agent_status_periods" ADD CONSTRAINT "agent_status_periods_no_overlap"
  EXCLUDE USING gist ("agent_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&);
--> statement-breakpoint
ALTER TABLE "org_status_periods" ADD CONSTRAINT "org_status_periods_no_overlap"
  EXCLUDE USING gist ("org_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&);
--> statement-breakpoint
ALTER TABLE "org_rate_periods" ADD CONSTRAINT "org_rate_periods_no_overlap"
  EXCLUDE USING gist ("org_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&);
--> statement-breakpoint
CREATE FUNCTION "agents_org_must_be_live"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM organizations WHERE id = NEW.org_id AND deleted_at IS NOT NULL) THEN
    RAISE EXCEPTION 'agent % cannot belong to deleted organization %', NEW.id, NEW.org_id
      USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER "agents_org_must_be_live" BEFORE INSERT OR UPDATE OF "org_id" ON "agents"
  FOR EACH ROW EXECUTE FUNCTION "agents_org_must_be_live"();
--> statement-breakpoint
INSERT INTO "organizations" ("id", "name", "slug", "description", "billing_rate_per_agent", "currency", "is_active", "is_internal", "created_at", "updated_at")
VALUES ('00000000-0000-4000-8000-000000000001', 'Internal', 'internal', 'The platform''s own pool: new and unassigned agents live here.', 0, 'USD', true, true, '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z');
--> statement-breakpoint
INSERT INTO "org_status_periods" ("org_id", "is_active", "starts_at") VALUES ('00000000-0000-4000-8000-000000000001', true, '2000-01-01T00:00:00Z');
--> statement-breakpoint
INSERT INTO "org_rate_periods" ("org_id", "rate", "starts_at") VALUES ('00000000-0000-4000-8000-000000000001', 0, '2000-01-01T00:00:00Z');
