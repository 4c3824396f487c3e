CREATE TABLE "usage_month_rollups" (
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
	CONSTRAINT "usage_month_rollups_pkey" PRIMARY KEY("org_id","agent_id","model","month"),
	CONSTRAINT "usage_month_rollups_counts_check" CHECK ("usage_month_rollups"."events" >= 0 and "usage_month_rollups"."unpriced_events" >= 0 and "usage_month_rollups"."unpriced_events" <= "usage_month_rollups"."events"),
	CONSTRAINT "usage_month_rollups_month_check" CHECK (extract(day from "usage_month_rollups"."month") = 1)
);
--> statement-breakpoint
ALTER TABLE "usage_month_rollups" ADD CONSTRAINT "usage_month_rollups_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_month_rollups" ADD CONSTRAINT "usage_month_rollups_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;