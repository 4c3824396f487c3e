CREATE TABLE "invoice_documents" (
	"invoice_id" uuid NOT NULL,
	"status" text NOT NULL,
	"pdf" bytea NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invoice_documents_pkey" PRIMARY KEY("invoice_id","status"),
	CONSTRAINT "invoice_documents_status_check" CHECK ("invoice_documents"."status" in ('finalized', 'void'))
);
--> statement-breakpoint
ALTER TABLE "invoice_documents" ADD CONSTRAINT "invoice_documents_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;