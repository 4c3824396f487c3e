CREATE TABLE "budget_alerts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"budget_id" uuid NOT NULL,
	"org_id" uuid NOT NULL,
	"month" date NOT NULL,
	"threshold_pct" integer NOT NULL,
	"spend_usd" numeric(38, 18) NOT NULL,
	"allowance_usd" numeric(38, 18) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"read_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "budget_suspensions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"budget_id" uuid NOT NULL,
	"month" date NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lifted_at" timestamp with time zone,
	"lift_reason" text,
	CONSTRAINT "budget_suspensions_lift_check" CHECK (("budget_suspensions"."lifted_at" is null) = ("budget_suspensions"."lift_reason" is null)),
	CONSTRAINT "budget_suspensions_reason_check" CHECK ("budget_suspensions"."lift_reason" is null or "budget_suspensions"."lift_reason" in ('month_end', 'budget_changed', 'budget_removed', 'staff'))
);
--> statement-breakpoint
CREATE TABLE "budgets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"agent_id" uuid,
	"kind" text NOT NULL,
	"amount" numeric(20, 6) NOT NULL,
	"thresholds_pct" jsonb NOT NULL,
	"action_at_100" text NOT NULL,
	"deleted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "budgets_kind_check" CHECK ("budgets"."kind" in ('cost_usd', 'margin_floor_pct')),
	CONSTRAINT "budgets_action_check" CHECK ("budgets"."action_at_100" in ('notify', 'suspend')),
	CONSTRAINT "budgets_amount_check" CHECK ("budgets"."amount" >= 0 and ("budgets"."kind" <> 'margin_floor_pct' or "budgets"."amount" < 100))
);
--> statement-breakpoint
ALTER TABLE "budget_alerts" ADD CONSTRAINT "budget_alerts_budget_id_budgets_id_fk" FOREIGN KEY ("budget_id") REFERENCES "public"."budgets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budget_alerts" ADD CONSTRAINT "budget_alerts_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budget_suspensions" ADD CONSTRAINT "budget_suspensions_budget_id_budgets_id_fk" FOREIGN KEY ("budget_id") REFERENCES "public"."budgets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budgets" ADD CONSTRAINT "budgets_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budgets" ADD CONSTRAINT "budgets_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "budget_alerts_once_idx" ON "budget_alerts" USING btree ("budget_id","month","threshold_pct");--> statement-breakpoint
CREATE INDEX "budget_alerts_org_idx" ON "budget_alerts" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "budget_alerts_unread_idx" ON "budget_alerts" USING btree ("created_at") WHERE "budget_alerts"."read_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "budget_suspensions_open_idx" ON "budget_suspensions" USING btree ("budget_id") WHERE "budget_suspensions"."lifted_at" is null;--> statement-breakpoint
CREATE INDEX "budget_suspensions_month_idx" ON "budget_suspensions" USING btree ("budget_id","month");--> statement-breakpoint
CREATE UNIQUE INDEX "budgets_org_live_idx" ON "budgets" USING btree ("org_id") WHERE "budgets"."agent_id" is null and "budgets"."deleted_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "budgets_agent_live_idx" ON "budgets" USING btree ("agent_id") WHERE "budgets"."agent_id" is not null and "budgets"."deleted_at" is null;