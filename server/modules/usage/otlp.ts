/**
 * OpenTelemetry GenAI spans as Orgdesk usage (docs/integrations.md, "OpenTelemetry"). Pure: the
 * request, whether it came as protobuf (`otlp-proto.ts`) or as OTLP JSON (`parseJsonRequest`), is
 * one shape, and `mapSpans` turns each span into what the usage service needs: its place in the
 * trace, the agent id it carries, and, for a billable span, the event it bills.
 */
import { AppError } from "../../errors";
import { type TokenCounts, fromInclusiveInput } from "./tokens";

/** A span's or resource's attributes by key, values as read (the last of a repeated key wins). */
export type OtlpAttributes = Map<string, unknown>;
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** Nanoseconds since the epoch (a 64-bit integer does not fit a double). */
  endTimeUnixNano: bigint;
  attributes: OtlpAttributes;
}
export interface OtlpRequest {
  resourceSpans: { resource: OtlpAttributes; spans: OtlpSpan[] }[];
}

/** A span as the usage service sees it. */
export interface MappedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  /** `gen_ai.agent.id` of the span itself. */
  agentRef: string | null;
  /** `orgdesk.agent.id` of the span's resource: the fallback when no span of its chain names an agent. */
  resourceAgentRef: string | null;
  /** The event a billable span bills (without its agent), else null. */
  event: BillableEvent | null;
}
export interface BillableEvent extends TokenCounts {
  id: string;
  model: string | undefined;
  provider: string | null;
  occurred_at: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** Operations that are one model call (`gen_ai.operation.name`); `invoke_agent` and `execute_tool` repeat or are not calls. */
const BILLABLE_OPERATIONS = new Set(["chat", "generate_content", "text_completion", "embeddings"]);
/** Vercel AI SDK: only the provider-level spans are calls; `ai.generateText` and the like repeat their totals. */
const AI_SDK_CALLS = new Set(["ai.generateText.doGenerate", "ai.streamText.doStream", "ai.generateObject.doGenerate", "ai.streamObject.doStream", "ai.embed.doEmbed", "ai.embedMany.doEmbed"]);
/** OpenInference span kinds that are one model call. */
const OPENINFERENCE_CALLS = new Set(["LLM", "EMBEDDING"]);

function first(attrs: Map<string, unknown>, keys: string[]): unknown {
  for (const k of keys) {
    const v = attrs.get(k);
    if (v !== undefined && v !== null && v !== "") return v;
  }
  return undefined;
}
const tokenCount = (v: unknown): number | undefined => {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};
const text = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : typeof v === "number" ? String(v) : undefined);
/**
 * An agent id as sent, with each NUL character (valid in a protobuf or JSON string, but not in
 * PostgreSQL's text) replaced by SUB (U+001A, the substitute character): like the NUL, a control
 * character no external id may contain, so the span is stored and its agent stays unknown (its
 * calls are rejected spans), where the NUL made the whole request fail.
 */
const agentRefOf = (v: unknown): string | null => {
  const ref = text(v);
  return ref === undefined ? null : ref.includes("\u0000") ? ref.replaceAll("\u0000", "\u001a") : ref;
};

// The attribute names read, in order of preference (docs/integrations.md).
const AGENT_KEYS = ["gen_ai.agent.id", "ai.telemetry.metadata.agent_id", "ai.telemetry.metadata.agentId"];
const INPUT_KEYS = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "ai.usage.inputTokens", "ai.usage.promptTokens"];
const OUTPUT_KEYS = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "ai.usage.outputTokens", "ai.usage.completionTokens"];
const CACHE_READ_KEYS = ["gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read", "ai.usage.cachedInputTokens", "ai.usage.inputTokenDetails.cacheReadTokens"];
const CACHE_WRITE_KEYS = ["gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens", "llm.token_count.prompt_details.cache_write", "ai.usage.inputTokenDetails.cacheWriteTokens"];
const MODEL_KEYS = ["gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "ai.response.model", "ai.model.id"];
const PROVIDER_KEYS = ["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider"];

/** Whether a span is one model call, by whichever attribute family it carries. */
function isCall(attrs: Map<string, unknown>): boolean {
  const op = attrs.get("gen_ai.operation.name");
  if (typeof op === "string") return BILLABLE_OPERATIONS.has(op);
  const aiOp = attrs.get("ai.operationId");
  if (typeof aiOp === "string") return AI_SDK_CALLS.has(aiOp);
  const kind = attrs.get("openinference.span.kind");
  if (typeof kind === "string") return OPENINFERENCE_CALLS.has(kind.toUpperCase());
  return false;
}

/** Nanoseconds to an ISO instant with milliseconds; "" for none (zero) or one out of range. */
function instantOf(nanos: bigint): string {
  const ms = nanos > 0n ? Number(nanos / 1_000_000n) : 0;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) || ms === 0 ? "" : d.toISOString();
}

/**
 * One span: its agent id, and, when it is a billable call that carries token counts, the event
 * (docs/integrations.md lists the attribute names read, current, deprecated and OpenInference).
 * Input totals of every family include cached tokens: fresh input is derived (docs/billing.md).
 */
export function mapSpan(span: OtlpSpan, resourceAgentRef: string | null): MappedSpan {
  const attrs = span.attributes;
  const agentRef = agentRefOf(first(attrs, AGENT_KEYS));
  const mapped: MappedSpan = { traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId, agentRef, resourceAgentRef, event: null };
  if (!isCall(attrs)) return mapped;
  const input = tokenCount(first(attrs, INPUT_KEYS));
  const output = tokenCount(first(attrs, OUTPUT_KEYS));
  // Spans without usage are ignored, not rejected.
  if (input === undefined && output === undefined) return mapped;
  const cacheRead = tokenCount(first(attrs, CACHE_READ_KEYS));
  const cacheWrite = tokenCount(first(attrs, CACHE_WRITE_KEYS));
  mapped.event = {
    id: `otel:${span.traceId}:${span.spanId}`,
    model: text(first(attrs, MODEL_KEYS)),
    provider: text(first(attrs, PROVIDER_KEYS))?.toLowerCase() ?? null,
    ...fromInclusiveInput({ totalInput: input ?? 0, output: output ?? 0, cacheRead, cacheWrite }),
    occurred_at: instantOf(span.endTimeUnixNano),
  };
  return mapped;
}

/** Every span of a request, mapped; ids are checked (a span without a valid trace or span id makes the request malformed). */
export function mapSpans(request: OtlpRequest): MappedSpan[] {
  const out: MappedSpan[] = [];
  for (const rs of request.resourceSpans) {
    const resourceAgentRef = agentRefOf(rs.resource.get("orgdesk.agent.id"));
    for (const span of rs.spans) {
      if (!TRACE_ID.test(span.traceId) || /^0+$/.test(span.traceId) || !SPAN_ID.test(span.spanId) || /^0+$/.test(span.spanId)) {
        throw new AppError("BAD_REQUEST", "Every span needs a 16-byte traceId and an 8-byte spanId (hex in OTLP JSON)");
      }
      if (span.parentSpanId !== "" && !SPAN_ID.test(span.parentSpanId)) throw new AppError("BAD_REQUEST", "A parentSpanId must be 8 bytes (hex in OTLP JSON)");
      out.push(mapSpan(span, resourceAgentRef));
    }
  }
  return out;
}

// OTLP JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): lowerCamelCase field
// names, ids as hex strings, 64-bit integers as strings or numbers.

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const notOtlp = (why: string) => new AppError("BAD_REQUEST", `The body is not an OTLP ExportTraceServiceRequest: ${why}`);

function jsonValue(v: unknown): unknown {
  if (!isObject(v)) return undefined;
  if (typeof v.stringValue === "string") return v.stringValue;
  if (v.intValue !== undefined) return tokenCount(v.intValue) ?? Number(v.intValue);
  if (typeof v.doubleValue === "number") return v.doubleValue;
  if (typeof v.boolValue === "boolean") return v.boolValue;
  if (isObject(v.arrayValue) && Array.isArray(v.arrayValue.values)) return v.arrayValue.values.map(jsonValue);
  return undefined;
}

function jsonAttributes(list: unknown, where: string): OtlpAttributes {
  const map: OtlpAttributes = new Map();
  if (list === undefined) return map;
  if (!Array.isArray(list)) throw notOtlp(`${where}.attributes must be an array`);
  list.forEach((kv, i) => {
    if (!isObject(kv) || typeof kv.key !== "string") throw notOtlp(`${where}.attributes[${i}] must be { key, value }`);
    map.set(kv.key, jsonValue(kv.value));
  });
  return map;
}

const arrayAt = (v: unknown, where: string): unknown[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw notOtlp(`${where} must be an array`);
  return v;
};

/** Parses an OTLP JSON body; anything that is not one (other JSON, wrong types) is a 400 saying where. */
export function parseJsonRequest(text: string): OtlpRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "The body is not valid JSON");
  }
  if (!isObject(body)) throw notOtlp("expected an object with resourceSpans");
  if (!("resourceSpans" in body) && Object.keys(body).length > 0) throw notOtlp("it has no resourceSpans");
  return {
    resourceSpans: arrayAt(body.resourceSpans, "resourceSpans").map((rs, i) => {
      const where = `resourceSpans[${i}]`;
      if (!isObject(rs)) throw notOtlp(`${where} must be an object`);
      if (rs.resource !== undefined && !isObject(rs.resource)) throw notOtlp(`${where}.resource must be an object`);
      return {
        resource: jsonAttributes((rs.resource as Record<string, unknown> | undefined)?.attributes, `${where}.resource`),
        spans: arrayAt(rs.scopeSpans, `${where}.scopeSpans`).flatMap((ss, j) => {
          if (!isObject(ss)) throw notOtlp(`${where}.scopeSpans[${j}] must be an object`);
          return arrayAt(ss.spans, `${where}.scopeSpans[${j}].spans`).map((s, k) => {
            const at = `${where}.scopeSpans[${j}].spans[${k}]`;
            if (!isObject(s)) throw notOtlp(`${at} must be an object`);
            const id = (v: unknown) => (typeof v === "string" ? v.toLowerCase() : "");
            const end = s.endTimeUnixNano;
            return {
              traceId: id(s.traceId),
              spanId: id(s.spanId),
              parentSpanId: id(s.parentSpanId),
              name: typeof s.name === "string" ? s.name : "",
              endTimeUnixNano: typeof end === "string" ? (/^\d+$/.test(end) ? BigInt(end) : 0n) : typeof end === "number" && Number.isFinite(end) && end >= 0 ? BigInt(Math.trunc(end)) : 0n,
              attributes: jsonAttributes(s.attributes, at),
            };
          });
        }),
      };
    }),
  };
}
