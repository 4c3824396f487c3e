ALTER TABLE "login_throttle" RENAME TO "request_counters";--> statement-breakpoint
ALTER TABLE "request_counters" RENAME COLUMN "failures" TO "hits";--> statement-breakpoint
ALTER TABLE "request_counters" RENAME CONSTRAINT "login_throttle_pkey" TO "request_counters_pkey";--> statement-breakpoint
ALTER TABLE "organizations" DROP CONSTRAINT "organizations_slug_check";--> statement-breakpoint
DROP INDEX "agents_name_live_key";--> statement-breakpoint
DROP INDEX "agents_email_key";--> statement-breakpoint
DROP INDEX "login_throttle_window_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "agents_org_name_live_key" ON "agents" USING btree ("org_id",lower("name")) WHERE "agents"."status" = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX "agents_org_email_live_key" ON "agents" USING btree ("org_id",lower("email")) WHERE "agents"."email" is not null and "agents"."status" = 'active';--> statement-breakpoint
CREATE INDEX "request_counters_window_idx" ON "request_counters" USING btree ("window_start");--> statement-breakpoint
ALTER TABLE "organizations" ADD CONSTRAINT "organizations_slug_check" CHECK ("organizations"."slug" ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length("organizations"."slug") <= 64 and "organizations"."slug" !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');