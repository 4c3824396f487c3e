ALTER TABLE "usage_rollups" DISABLE ROW LEVEL SECURITY;--> statement-breakpoint
DROP TABLE "usage_rollups" CASCADE;--> statement-breakpoint
DROP INDEX "usage_events_org_time_idx";--> statement-breakpoint
DROP INDEX "usage_events_time_idx";--> statement-breakpoint
CREATE INDEX "usage_events_time_brin" ON "usage_events" USING brin ("occurred_at");