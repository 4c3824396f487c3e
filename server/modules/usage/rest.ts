import { AppError } from "../../errors";
import { defineRoute, jsonStructureProblem, readBodyBytes, readBodyText } from "../../rest/route";
import { mapSpans, parseJsonRequest } from "./otlp";
import { MAX_IMPORT_LINE_CHARS } from "./import";
import { otlpResponseOutput, litellmIngestOutput, MAX_BATCH, repriceInput, repriceOutput, usageEventInput, usageImportOutput, usageIngestBody, usageIngestOutput } from "./schema";
import * as usage from "./service";

/**
 * protobufjs and the parsed OTLP definitions, loaded on the first protobuf export: about 15 MB of
 * resident memory that an instance receiving no OTLP (or only OTLP JSON) should not carry
 * (docs/scaling.md, "Memory").
 */
const otlpProto = () => import("./otlp-proto");

export const usageRoutes = [
  defineRoute({
    method: "post",
    path: "/api/usage",
    tag: "Usage",
    summary: `Ingest usage events (one, or a batch of up to ${MAX_BATCH}); idempotent by event id, per-item results`,
    body: usageIngestBody,
    response: usageIngestOutput,
    tooLarge: `a batch of more than ${MAX_BATCH} events`,
    components: { UsageEvent: usageEventInput },
    handler: ({ ctx, body }) => usage.ingest({ ctx, input: body }),
  }),
  defineRoute({
    method: "post",
    path: "/api/usage/import",
    tag: "Usage",
    summary: "Bulk import of usage history: a CSV or NDJSON file of events of any length, streamed; idempotent by event id, errors by line",
    rawBody: {
      types: ["text/csv", "application/x-ndjson"],
      description: `text/csv with a header line naming Event fields (id, agent_id or agent_external_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, occurred_at; an empty cell omits the field), or application/x-ndjson with one Event per line. Any length (streamed, stored in batches); optionally Content-Encoding: gzip. A line may hold at most ${MAX_IMPORT_LINE_CHARS} characters.`,
    },
    response: usageImportOutput,
    handler: async ({ ctx, c }) => {
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      const format = type === "text/csv" ? "csv" : type === "application/x-ndjson" ? "ndjson" : null;
      if (!format) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be text/csv (with a header line) or application/x-ndjson (one Event per line)");
      const encoding = (c.req.header("content-encoding") ?? "identity").trim().toLowerCase();
      if (encoding !== "identity" && encoding !== "gzip") throw new AppError("UNSUPPORTED_MEDIA_TYPE", `Content-Encoding ${encoding.slice(0, 32)} is not supported (gzip or none)`);
      const raw = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
      const body = encoding === "gzip" ? raw.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>) : raw;
      return usage.importUsage({ ctx, input: { format, body } });
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/usage/reprice",
    tag: "Usage",
    summary: "Re-price the events of a date range with the current prices (events with their own cost keep it)",
    body: repriceInput,
    response: repriceOutput,
    handler: ({ ctx, body }) => usage.reprice({ ctx, input: body }),
  }),
  defineRoute({
    method: "post",
    path: "/api/integrations/litellm",
    tag: "Usage",
    summary: "Ingest LiteLLM generic_api callback logs (json_array, ndjson or single StandardLoggingPayload); only successful calls are billed",
    rawBody: {
      types: ["application/json", "application/x-ndjson"],
      description:
        "What LiteLLM's generic_api callback sends: a JSON array of StandardLoggingPayload objects (log_format json_array), one per line (ndjson), or one object (single). At most 1000 payloads.",
    },
    response: litellmIngestOutput,
    tooLarge: "more than 1000 payloads",
    handler: async ({ ctx, c }) => {
      // LiteLLM declares application/json for all three formats.
      if (!/^application\/(json|x-ndjson)\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
        throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/json (a JSON array, one object, or one object per line)");
      }
      return usage.ingestLitellm({ ctx, input: { body: wellFormed(await readBodyText(c, ctx.config.maxBodyBytes)) } });
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/otel/v1/traces",
    tag: "Usage",
    summary: "OTLP/HTTP trace export: GenAI spans become usage (protobuf or JSON, optionally gzip); set OTEL_EXPORTER_OTLP_ENDPOINT to <base>/api/otel",
    rawBody: {
      types: ["application/x-protobuf", "application/json"],
      description: "An OTLP ExportTraceServiceRequest, protobuf or OTLP JSON, optionally with Content-Encoding: gzip (the inflated body is subject to the size limit).",
    },
    response: otlpResponseOutput,
    produces: ["application/x-protobuf"],
    handler: async ({ ctx, c }) => {
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/x-protobuf" && type !== "application/json") {
        throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/x-protobuf or application/json (OTLP)");
      }
      const bytes = await readBodyBytes(c, ctx.config.maxBodyBytes);
      const proto = type === "application/x-protobuf" ? await otlpProto() : null;
      const request = proto ? proto.decodeProtobufRequest(bytes) : parseJsonRequest(wellFormed(decodeUtf8(bytes)));
      const result = await usage.ingestOtlp({ ctx, input: { spans: mapSpans(request) } });
      if (proto) {
        return new Response(Buffer.from(proto.encodeProtobufResponse(result.rejectedSpans, result.errorMessage)), { headers: { "content-type": "application/x-protobuf" } });
      }
      return result.rejectedSpans > 0 ? { partialSuccess: { rejectedSpans: String(result.rejectedSpans), errorMessage: result.errorMessage } } : {};
    },
  }),
];

const UTF8 = new TextDecoder("utf-8", { fatal: true });
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new AppError("BAD_REQUEST", "The body is not valid UTF-8");
  }
}

/** JSON text (one document, or one per line) without repeated keys or hostile nesting, as every JSON body: else a 400. */
function wellFormed(text: string): string {
  const problem = jsonStructureProblem(text);
  if (problem) throw new AppError("BAD_REQUEST", problem);
  return text;
}
