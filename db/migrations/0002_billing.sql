CREATE TABLE "fx_rates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"currency" text NOT NULL,
	"effective_from" date NOT NULL,
	"rate" numeric(28, 12) NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fx_rates_rate_check" CHECK ("fx_rates"."rate" > 0),
	CONSTRAINT "fx_rates_currency_check" CHECK ("fx_rates"."currency" in ('EUR', 'GBP', 'NGN', 'CAD', 'AUD'))
);
--> statement-breakpoint
CREATE TABLE "model_prices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"model" text NOT NULL,
	"provider" text,
	"effective_from" date NOT NULL,
	"input_per_m" numeric(28, 12) NOT NULL,
	"output_per_m" numeric(28, 12) NOT NULL,
	"cache_read_per_m" numeric(28, 12),
	"cache_write_per_m" numeric(28, 12),
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_prices_non_negative_check" CHECK ("model_prices"."input_per_m" >= 0 and "model_prices"."output_per_m" >= 0 and coalesce("model_prices"."cache_read_per_m", 0) >= 0 and coalesce("model_prices"."cache_write_per_m", 0) >= 0),
	CONSTRAINT "model_prices_model_check" CHECK ("model_prices"."model" = lower("model_prices"."model") and length("model_prices"."model") between 1 and 128)
);
--> statement-breakpoint
CREATE TABLE "usage_events" (
	"id" text PRIMARY KEY NOT NULL,
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
	CONSTRAINT "usage_events_id_check" CHECK (length("usage_events"."id") between 1 and 128),
	CONSTRAINT "usage_events_tokens_check" CHECK ("usage_events"."input_tokens" >= 0 and "usage_events"."output_tokens" >= 0 and "usage_events"."cache_read_tokens" >= 0 and "usage_events"."cache_write_tokens" >= 0),
	CONSTRAINT "usage_events_cost_check" CHECK ("usage_events"."cost_usd" is null or "usage_events"."cost_usd" >= 0),
	CONSTRAINT "usage_events_cost_source_check" CHECK (not "usage_events"."cost_from_event" or "usage_events"."cost_usd" is not null)
);
--> statement-breakpoint
CREATE TABLE "usage_rollups" (
	"org_id" uuid NOT NULL,
	"agent_id" uuid NOT NULL,
	"model" text NOT NULL,
	"day" date NOT NULL,
	"events" integer NOT NULL,
	"unpriced_events" integer NOT NULL,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cache_read_tokens" bigint NOT NULL,
	"cache_write_tokens" bigint NOT NULL,
	"cost_usd" numeric(38, 18) NOT NULL,
	CONSTRAINT "usage_rollups_pkey" PRIMARY KEY("org_id","agent_id","model","day"),
	CONSTRAINT "usage_rollups_counts_check" CHECK ("usage_rollups"."events" >= 0 and "usage_rollups"."unpriced_events" >= 0 and "usage_rollups"."unpriced_events" <= "usage_rollups"."events")
);
--> statement-breakpoint
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_rollups" ADD CONSTRAINT "usage_rollups_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage_rollups" ADD CONSTRAINT "usage_rollups_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "fx_rates_currency_from_key" ON "fx_rates" USING btree ("currency","effective_from");--> statement-breakpoint
CREATE UNIQUE INDEX "model_prices_model_from_key" ON "model_prices" USING btree ("model","effective_from");--> statement-breakpoint
CREATE INDEX "usage_events_org_time_idx" ON "usage_events" USING btree ("org_id","occurred_at");--> statement-breakpoint
CREATE INDEX "usage_events_time_idx" ON "usage_events" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "usage_events_unpriced_idx" ON "usage_events" USING btree ("model","occurred_at") WHERE "usage_events"."cost_usd" is null;--> statement-breakpoint
CREATE INDEX "usage_rollups_org_day_idx" ON "usage_rollups" USING btree ("org_id","day");--> statement-breakpoint
CREATE INDEX "usage_rollups_day_idx" ON "usage_rollups" USING btree ("day");