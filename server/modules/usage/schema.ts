import { z } from "zod";
import { DECIMAL_STRING_MAX, instantInput, uuidString } from "../../shared/fields";
import { parseDecimalInput } from "../../shared/money";

/** Largest batch accepted by one ingestion call. */
export const MAX_BATCH = 1000;

/** A token count: a whole number of tokens, 0 to 10^12. */
const tokenCount = z
  .number({ error: "must be a whole number of tokens" })
  .int("must be a whole number of tokens")
  .min(0, "must not be negative")
  .max(1_000_000_000_000, "must be at most 1000000000000");

/**
 * A reference to an agent as a runtime knows it: its external id, or else its Orgdesk id
 * (docs/integrations.md, "How an agent is found"). Never a name.
 */
export const agentExternalRef = z
  .string({ error: "must be a string" })
  .trim()
  .min(1, "must not be empty")
  .max(128, "must be at most 128 characters")
  .refine((s) => !/[\s\u0000-\u001f\u007f]/.test(s), "must not contain spaces or control characters");

/** A USD cost carried by the event: decimal string or JSON number, ≥ 0, at most 12 decimals. */
export const costInput = z
  .union([z.number(), z.string().max(DECIMAL_STRING_MAX, `must be at most ${DECIMAL_STRING_MAX} characters`)], { error: "must be a decimal amount in USD" })
  .transform((value, ctx) => {
    const parsed = parseDecimalInput(value, 12, 12);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }
    return parsed.value;
  })
  .meta({ description: "USD, decimal string or number, at most 12 decimals", examples: ["0.0125"] });

/** A model name: trimmed and lower-cased, so `GPT-4o` and `gpt-4o` are one model. */
export const modelName = z
  .string({ error: "must be a model name" })
  .trim()
  .toLowerCase()
  .min(1, "must not be empty")
  .max(128, "must be at most 128 characters")
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), "must not contain control characters");

/**
 * One usage event (docs/billing.md, "Usage ingestion"). Unknown fields are ignored, so runtimes may send extra metadata.
 * `occurred_at` defaults to the time of receipt and may be at most 5 minutes in the future
 * (checked by the service against its clock).
 */
export const usageEventInput = z
  .object({
  id: z
    .string({ error: "must be a string (the client's idempotency key)" })
    .min(1, "must not be empty")
    .max(128, "must be at most 128 characters")
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), "must not contain control characters"),
  agent_id: uuidString.optional().meta({ description: "The agent's Orgdesk id; or give agent_external_id" }),
  agent_external_id: agentExternalRef.optional().meta({ description: "The id the agent's runtime knows it by (its external id), instead of agent_id" }),
  model: modelName,
  provider: z
    .string({ error: "must be a string" })
    .trim()
    .toLowerCase()
    .max(64, "must be at most 64 characters")
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), "must not contain control characters")
    .nullable()
    .optional(),
  input_tokens: tokenCount,
  output_tokens: tokenCount,
  cache_read_tokens: tokenCount.optional(),
  cache_write_tokens: tokenCount.optional(),
  cost_usd: costInput.nullable().optional(),
  occurred_at: instantInput.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.agent_id === undefined && v.agent_external_id === undefined) ctx.addIssue({ code: "custom", path: ["agent_id"], message: "is required (or give agent_external_id)" });
    if (v.agent_id !== undefined && v.agent_external_id !== undefined) ctx.addIssue({ code: "custom", path: ["agent_external_id"], message: "give agent_id or agent_external_id, not both" });
  });
export type UsageEventInput = z.infer<typeof usageEventInput>;

/** Where the document describes one event (`usageEventInput`, registered by the usage routes). */
export const USAGE_EVENT_REF = "#/components/schemas/UsageEvent";

/**
 * The ingestion body: one event, or `{ events: [...] }`. Items are validated one by one by the
 * service so that one bad item never fails the batch; here only the envelope is checked. The
 * document still describes each item as the `usageEventInput` the service checks it against.
 */
export const usageIngestBody = z
  .union(
    [
      // The batch limit is the service's (a 413 naming the field, not a 400): documented here.
      z.object({ events: z.array(z.unknown().meta({ $ref: USAGE_EVENT_REF }), { error: "must be an array of events" }).meta({ maxItems: MAX_BATCH }) }),
      z.looseObject({}).meta({ $ref: USAGE_EVENT_REF }),
    ],
    {
      error: "must be one event object or { events: [...] }",
    },
  )
  .superRefine((v, ctx) => {
    if ("events" in v && !Array.isArray((v as { events: unknown }).events)) {
      ctx.addIssue({ code: "custom", path: ["events"], message: "must be an array of events" });
    }
  })
  .transform((v) => ({ events: Array.isArray((v as { events?: unknown }).events) ? ((v as { events: unknown[] }).events) : [v] }))
  .meta({
    description:
      "One Event `{ id, agent_id | agent_external_id, model, provider?, input_tokens, output_tokens, cache_read_tokens?, cache_write_tokens?, cost_usd?, occurred_at? }` or `{ events: [Event] }` with at most 1000 events.",
  });

export const usageIngestInput = z.object({ events: z.array(z.unknown(), { error: "must be an array of events" }) });

export const rejectionCode = z.enum(["invalid", "unknown_agent", "before_agent_created", "id_conflict", "outside_retention"]);

export const usageIngestOutput = z.object({
  accepted: z.number().int().meta({ description: "Events stored by this call" }),
  duplicates: z.number().int().meta({ description: "Events already stored with the same id and content (not stored twice)" }),
  unpriced: z
    .number()
    .int()
    .optional()
    .meta({ description: "Accepted events whose model has no price yet; absent for a caller bound to one organization (prices are token costs)" }),
  rejected: z.array(
    z.object({
      index: z.number().int().meta({ description: "Position in the batch (0 for a single event)" }),
      id: z.string().nullable(),
      code: rejectionCode,
      message: z.string(),
    }),
  ),
});
export type UsageIngestOutput = z.infer<typeof usageIngestOutput>;

/** OTLP's ExportTraceServiceResponse in its JSON form: empty, or the spans that could not be attributed. */
export const otlpResponseOutput = z.object({
  partialSuccess: z
    .object({
      rejectedSpans: z.string().meta({ description: "int64 as a decimal string, as OTLP JSON writes it" }),
      errorMessage: z.string(),
    })
    .optional(),
});

export const litellmIngestOutput = usageIngestOutput.extend({
  skipped: z.number().int().meta({ description: "Payloads of failed calls (status other than success): never billed" }),
});

/** A UTC day, YYYY-MM-DD. */
export const dayInput = z
  .string({ error: "must be a date like 2026-03-01" })
  .regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, "must be a date like 2026-03-01 (YYYY-MM-DD)")
  // The pattern admits exactly 10 characters; said where the document can see it.
  .meta({ maxLength: 10 })
  // zod runs this refinement even when the pattern failed: an unparsable string must not throw.
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, "is not a real date");

export const repriceInput = z
  .strictObject({
    from: dayInput.meta({ description: "First UTC day (inclusive)" }),
    to: dayInput.meta({ description: "Last UTC day (inclusive)" }),
    model: modelName.optional().meta({ description: "Only this model" }),
  })
  .superRefine((v, ctx) => {
    if (v.from > v.to) ctx.addIssue({ code: "custom", path: ["from"], message: "must not be after to" });
  });

export const repriceOutput = z.object({
  from: z.string(),
  to: z.string(),
  model: z.string().nullable(),
  examined: z.number().int().meta({ description: "Events in the range that are priced from the table" }),
  changed: z.number().int().meta({ description: "Events whose cost changed" }),
  unpriced: z.number().int().meta({ description: "Events in the range still without a price" }),
});

/** Errors listed in a bulk import's answer; `rejected` counts them all. */
export const MAX_IMPORT_ERRORS = 100;

export const usageImportOutput = z.object({
  accepted: z.number().int().meta({ description: "Events stored by this import" }),
  duplicates: z.number().int().meta({ description: "Events already stored with the same id and content (a re-run of the same file: all of them)" }),
  rejected: z.number().int().meta({ description: "Lines refused (every one, including those beyond the listed errors)" }),
  errors: z
    .array(
      z.object({
        line: z.number().int().meta({ description: "Line of the file, 1-based (a CSV header is line 1)" }),
        id: z.string().nullable().meta({ description: "The event id of the line, when it could be read" }),
        code: rejectionCode,
        message: z.string(),
      }),
    )
    .meta({ description: `The first ${MAX_IMPORT_ERRORS} rejected lines, in line order` }),
});
export type UsageImportOutput = z.infer<typeof usageImportOutput>;
