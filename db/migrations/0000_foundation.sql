CREATE TABLE "agent_assignments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"agent_id" uuid NOT NULL,
	"org_id" uuid NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone,
	CONSTRAINT "agent_assignments_order_check" CHECK ("agent_assignments"."ends_at" is null or "agent_assignments"."ends_at" >= "agent_assignments"."starts_at")
);
--> statement-breakpoint
CREATE TABLE "agent_rate_periods" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"agent_id" uuid NOT NULL,
	"rate" numeric(14, 2),
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone,
	CONSTRAINT "agent_rate_periods_order_check" CHECK ("agent_rate_periods"."ends_at" is null or "agent_rate_periods"."ends_at" >= "agent_rate_periods"."starts_at")
);
--> statement-breakpoint
CREATE TABLE "agent_status_periods" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"agent_id" uuid NOT NULL,
	"status" text NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone,
	CONSTRAINT "agent_status_periods_order_check" CHECK ("agent_status_periods"."ends_at" is null or "agent_status_periods"."ends_at" >= "agent_status_periods"."starts_at")
);
--> statement-breakpoint
CREATE TABLE "agents" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"description" text,
	"status" text DEFAULT 'active' NOT NULL,
	"billing_rate" numeric(14, 2),
	"org_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agents_status_check" CHECK ("agents"."status" in ('active', 'archived')),
	CONSTRAINT "agents_rate_check" CHECK ("agents"."billing_rate" is null or "agents"."billing_rate" >= 0)
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor_kind" text NOT NULL,
	"actor_id" text,
	"actor_label" text NOT NULL,
	"action" text NOT NULL,
	"org_id" uuid,
	"target_type" text NOT NULL,
	"target_id" text,
	"before" jsonb,
	"after" jsonb,
	"request_id" text
);
--> statement-breakpoint
CREATE TABLE "org_rate_periods" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"rate" numeric(14, 2) NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone,
	CONSTRAINT "org_rate_periods_order_check" CHECK ("org_rate_periods"."ends_at" is null or "org_rate_periods"."ends_at" >= "org_rate_periods"."starts_at"),
	CONSTRAINT "org_rate_periods_rate_check" CHECK ("org_rate_periods"."rate" >= 0)
);
--> statement-breakpoint
CREATE TABLE "org_status_periods" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"is_active" boolean NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone,
	CONSTRAINT "org_status_periods_order_check" CHECK ("org_status_periods"."ends_at" is null or "org_status_periods"."ends_at" >= "org_status_periods"."starts_at")
);
--> statement-breakpoint
CREATE TABLE "organizations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"slug" text NOT NULL,
	"contact_name" text,
	"contact_email" text,
	"description" text,
	"billing_rate_per_agent" numeric(14, 2) DEFAULT '0.00' NOT NULL,
	"currency" text DEFAULT 'USD' NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"is_internal" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "organizations_currency_check" CHECK ("organizations"."currency" in ('USD', 'EUR', 'GBP', 'NGN', 'CAD', 'AUD')),
	CONSTRAINT "organizations_rate_check" CHECK ("organizations"."billing_rate_per_agent" >= 0),
	CONSTRAINT "organizations_slug_check" CHECK ("organizations"."slug" ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length("organizations"."slug") <= 64),
	CONSTRAINT "organizations_internal_check" CHECK (not "organizations"."is_internal" or ("organizations"."is_active" and "organizations"."billing_rate_per_agent" = 0 and "organizations"."deleted_at" is null))
);
--> statement-breakpoint
ALTER TABLE "agent_assignments" ADD CONSTRAINT "agent_assignments_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_assignments" ADD CONSTRAINT "agent_assignments_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_rate_periods" ADD CONSTRAINT "agent_rate_periods_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agent_status_periods" ADD CONSTRAINT "agent_status_periods_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agents" ADD CONSTRAINT "agents_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_rate_periods" ADD CONSTRAINT "org_rate_periods_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_status_periods" ADD CONSTRAINT "org_status_periods_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "agent_assignments_open_key" ON "agent_assignments" USING btree ("agent_id") WHERE "agent_assignments"."ends_at" is null;--> statement-breakpoint
CREATE INDEX "agent_assignments_org_idx" ON "agent_assignments" USING btree ("org_id","starts_at");--> statement-breakpoint
CREATE UNIQUE INDEX "agent_rate_periods_open_key" ON "agent_rate_periods" USING btree ("agent_id") WHERE "agent_rate_periods"."ends_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "agent_status_periods_open_key" ON "agent_status_periods" USING btree ("agent_id") WHERE "agent_status_periods"."ends_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "agents_name_live_key" ON "agents" USING btree (lower("name")) WHERE "agents"."status" = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX "agents_email_key" ON "agents" USING btree (lower("email")) WHERE "agents"."email" is not null;--> statement-breakpoint
CREATE INDEX "agents_org_idx" ON "agents" USING btree ("org_id");--> statement-breakpoint
CREATE INDEX "audit_log_org_idx" ON "audit_log" USING btree ("org_id","id");--> statement-breakpoint
CREATE INDEX "audit_log_actor_idx" ON "audit_log" USING btree ("actor_label","id");--> statement-breakpoint
CREATE INDEX "audit_log_action_idx" ON "audit_log" USING btree ("action","id");--> statement-breakpoint
CREATE UNIQUE INDEX "org_rate_periods_open_key" ON "org_rate_periods" USING btree ("org_id") WHERE "org_rate_periods"."ends_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "org_status_periods_open_key" ON "org_status_periods" USING btree ("org_id") WHERE "org_status_periods"."ends_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "organizations_slug_live_key" ON "organizations" USING btree ("slug") WHERE "organizations"."deleted_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "organizations_one_internal_key" ON "organizations" USING btree ("is_internal") WHERE "organizations"."is_internal";--> statement-breakpoint
CREATE INDEX "organizations_name_idx" ON "organizations" USING btree ("name");