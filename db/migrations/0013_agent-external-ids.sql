ALTER TABLE "agents" ADD COLUMN "external_id" text;--> statement-breakpoint
CREATE UNIQUE INDEX "agents_external_id_key" ON "agents" USING btree ("external_id");--> statement-breakpoint
ALTER TABLE "agents" ADD CONSTRAINT "agents_external_id_check" CHECK (char_length("agents"."external_id") between 1 and 128);