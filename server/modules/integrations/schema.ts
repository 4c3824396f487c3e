import { z } from "zod";
import { instantOutput, uuidString } from "../../shared/fields";

/** The sources whose ingestion statistics are kept (docs/integrations.md, "Integrations page"). */
export const INGESTION_SOURCES = ["api", "otlp", "litellm", "import"] as const;

export const sourceStats = z.object({
  source: z.enum(INGESTION_SOURCES).meta({ description: "`api` = POST /api/usage and tRPC, `otlp` = OpenTelemetry, `litellm`, `import` = bulk import" }),
  last_received_at: instantOutput.nullable().meta({ description: "When the last request of this source was received; null when none is known" }),
  accepted: z.number().int().meta({ description: "Events stored in the last 24 hours (the current UTC hour and the 23 before it)" }),
  duplicates: z.number().int().meta({ description: "Events already stored with the same content, last 24 hours" }),
  rejected: z.number().int().meta({ description: "Events refused, last 24 hours" }),
});

export const unattributedTrace = z.object({
  trace_id: z.string(),
  spans: z.number().int(),
  span_ids: z.array(z.string()).meta({ description: "The trace's unattributed spans (at most 100)" }),
  models: z.array(z.string()),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  first_received_at: instantOutput,
});

export const integrationsOverviewOutput = z.object({
  base_url: z.string().meta({ description: "This server's public address: PUBLIC_URL, else the address the request reached", examples: ["https://orgdesk.example.com"] }),
  sources: z.array(sourceStats),
  unattributed: z.object({
    spans: z.number().int().meta({ description: "Billable OpenTelemetry spans that waited more than 30 minutes for an ancestor naming their agent" }),
    traces: z.array(unattributedTrace).meta({ description: "Their traces, oldest first (at most 50)" }),
  }),
});
export type IntegrationsOverview = z.infer<typeof integrationsOverviewOutput>;

const traceId = z.string({ error: "must be a trace id" }).max(32, { error: "must be a trace id (32 lower-case hex digits)", abort: true }).regex(/^[0-9a-f]{32}$/, "must be a trace id (32 lower-case hex digits)");
const spanId = z.string({ error: "must be a span id" }).max(16, { error: "must be a span id (16 lower-case hex digits)", abort: true }).regex(/^[0-9a-f]{16}$/, "must be a span id (16 lower-case hex digits)");

export const attributeSpansInput = z.object({
  trace_id: traceId,
  span_ids: z
    .array(spanId, { error: "must be a list of span ids" })
    .min(1, "must name at least one span")
    .max(1000, "must name at most 1000 spans")
    .optional()
    .meta({ description: "The spans to attribute; all the trace's unattributed spans when omitted" }),
  agent_id: uuidString.meta({ description: "The agent the spans bill" }),
});

export const attributeSpansOutput = z.object({
  trace_id: z.string(),
  agent_id: z.string(),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.array(z.object({ span_id: z.string(), code: z.string(), message: z.string() })),
  remaining: z.number().int().meta({ description: "Unattributed spans of the trace still waiting" }),
});
