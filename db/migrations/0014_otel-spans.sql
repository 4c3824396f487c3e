CREATE TABLE "otel_pending_spans" (
	"trace_id" text NOT NULL,
	"span_id" text NOT NULL,
	"event" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "otel_pending_spans_trace_id_span_id_pk" PRIMARY KEY("trace_id","span_id")
);
--> statement-breakpoint
CREATE TABLE "otel_spans" (
	"trace_id" text NOT NULL,
	"span_id" text NOT NULL,
	"parent_span_id" text,
	"agent_ref" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "otel_spans_trace_id_span_id_pk" PRIMARY KEY("trace_id","span_id")
);
--> statement-breakpoint
CREATE INDEX "otel_pending_spans_received_idx" ON "otel_pending_spans" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "otel_spans_received_idx" ON "otel_spans" USING btree ("received_at");