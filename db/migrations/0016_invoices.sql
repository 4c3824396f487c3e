CREATE TABLE "invoice_counter" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"last_number" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "invoice_counter_one_row_check" CHECK ("invoice_counter"."id"),
	CONSTRAINT "invoice_counter_last_check" CHECK ("invoice_counter"."last_number" >= 0)
);
--> statement-breakpoint
CREATE TABLE "invoice_lines" (
	"invoice_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"kind" text NOT NULL,
	"description" text NOT NULL,
	"agent_id" uuid,
	"model" text,
	"quantity" numeric(14, 2) NOT NULL,
	"unit_amount" numeric(14, 2) NOT NULL,
	"amount" numeric(14, 2) NOT NULL,
	"adjusts_month" date,
	CONSTRAINT "invoice_lines_pkey" PRIMARY KEY("invoice_id","position"),
	CONSTRAINT "invoice_lines_kind_check" CHECK ("invoice_lines"."kind" in ('seat', 'usage', 'adjustment')),
	CONSTRAINT "invoice_lines_adjusts_check" CHECK (("invoice_lines"."kind" = 'adjustment') = ("invoice_lines"."adjusts_month" is not null))
);
--> statement-breakpoint
CREATE TABLE "invoices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"month" date NOT NULL,
	"sequence" bigint NOT NULL,
	"number" text NOT NULL,
	"status" text NOT NULL,
	"currency" text NOT NULL,
	"client" jsonb NOT NULL,
	"agency" jsonb NOT NULL,
	"usage_markup_pct" numeric(7, 2),
	"subtotal" numeric(14, 2) NOT NULL,
	"total" numeric(14, 2) NOT NULL,
	"issued_at" timestamp with time zone NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"finalized_at" timestamp with time zone NOT NULL,
	"voided_at" timestamp with time zone,
	"void_reason" text,
	CONSTRAINT "invoices_status_check" CHECK ("invoices"."status" in ('finalized', 'void')),
	CONSTRAINT "invoices_void_check" CHECK (("invoices"."status" = 'void') = ("invoices"."voided_at" is not null and "invoices"."void_reason" is not null)),
	CONSTRAINT "invoices_month_check" CHECK (extract(day from "invoices"."month") = 1)
);
--> statement-breakpoint
CREATE TABLE "invoicing_settings" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"agency_name" text DEFAULT 'Orgdesk' NOT NULL,
	"agency_address" text DEFAULT '' NOT NULL,
	"agency_email" text,
	"invoice_prefix" text DEFAULT 'INV' NOT NULL,
	"payment_terms_days" integer DEFAULT 30 NOT NULL,
	"auto_finalize_after_days" integer DEFAULT 3,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invoicing_settings_one_row_check" CHECK ("invoicing_settings"."id"),
	CONSTRAINT "invoicing_settings_terms_check" CHECK ("invoicing_settings"."payment_terms_days" between 0 and 365),
	CONSTRAINT "invoicing_settings_auto_check" CHECK ("invoicing_settings"."auto_finalize_after_days" is null or "invoicing_settings"."auto_finalize_after_days" between 0 and 365)
);
--> statement-breakpoint
CREATE TABLE "org_invoicing" (
	"org_id" uuid PRIMARY KEY NOT NULL,
	"usage_markup_pct" numeric(7, 2),
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "org_invoicing_markup_check" CHECK ("org_invoicing"."usage_markup_pct" is null or "org_invoicing"."usage_markup_pct" >= 0)
);
--> statement-breakpoint
ALTER TABLE "invoice_lines" ADD CONSTRAINT "invoice_lines_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoice_lines" ADD CONSTRAINT "invoice_lines_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "org_invoicing" ADD CONSTRAINT "org_invoicing_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "invoice_lines_adjusts_idx" ON "invoice_lines" USING btree ("adjusts_month") WHERE "invoice_lines"."adjusts_month" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_number_key" ON "invoices" USING btree ("number");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_sequence_key" ON "invoices" USING btree ("sequence");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_one_finalized_key" ON "invoices" USING btree ("org_id","month") WHERE "invoices"."status" = 'finalized';--> statement-breakpoint
CREATE INDEX "invoices_month_idx" ON "invoices" USING btree ("month");--> statement-breakpoint
-- The singleton rows: platform invoicing settings with their defaults, and the gapless counter.
INSERT INTO "invoicing_settings" ("id") VALUES (true);
--> statement-breakpoint
INSERT INTO "invoice_counter" ("id", "last_number") VALUES (true, 0);
--> statement-breakpoint
-- A finalized invoice is a frozen snapshot: its lines are never changed or removed, and the invoice
-- itself may only go from finalized to void (with when and why); nothing else about it changes.
CREATE FUNCTION "invoice_lines_frozen"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'invoice lines are frozen' USING ERRCODE = 'P0001';
END $$;
--> statement-breakpoint
CREATE TRIGGER "invoice_lines_frozen" BEFORE UPDATE OR DELETE ON "invoice_lines"
  FOR EACH ROW EXECUTE FUNCTION "invoice_lines_frozen"();
--> statement-breakpoint
CREATE FUNCTION "invoices_frozen"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'invoices are never deleted' USING ERRCODE = 'P0001';
  END IF;
  IF OLD.status <> 'finalized' OR NEW.status <> 'void'
     OR (to_jsonb(NEW) - 'status' - 'voided_at' - 'void_reason') IS DISTINCT FROM (to_jsonb(OLD) - 'status' - 'voided_at' - 'void_reason') THEN
    RAISE EXCEPTION 'a finalized invoice only changes by being voided' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER "invoices_frozen" BEFORE UPDATE OR DELETE ON "invoices"
  FOR EACH ROW EXECUTE FUNCTION "invoices_frozen"();
