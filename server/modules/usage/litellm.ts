/**
 * LiteLLM's `generic_api` logging callback (docs/integrations.md, "LiteLLM"): the body is a list of
 * LiteLLM `StandardLoggingPayload` objects in one of its three log formats — `json_array` (a JSON
 * array), `ndjson` (one object per line) or `single` (one object per request) — all sent as
 * `Content-Type: application/json`. This module turns them into Orgdesk usage events; the usage
 * service ingests those like any other (one price table, one ingestion statement).
 */
import { AppError } from "../../errors";
import { fromInclusiveInput } from "./tokens";

/** The fields of a `StandardLoggingPayload` that billing reads (LiteLLM's type has many more). */
interface Payload {
  id?: unknown;
  status?: unknown;
  model?: unknown;
  custom_llm_provider?: unknown;
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  endTime?: unknown;
  end_user?: unknown;
  metadata?: { user_api_key_alias?: unknown; usage_object?: Record<string, unknown> | null } | null;
}

export interface LitellmBatch {
  /** Orgdesk usage events (`agent_external_id` set), in payload order. */
  events: Record<string, unknown>[];
  /** The position in the body of each event's payload. */
  positions: number[];
  /** Payloads that are not billed: failed calls (`status` other than `"success"`). */
  skipped: number;
}

/** Most payloads one request may carry (LiteLLM's default batch is far smaller). */
export const MAX_LITELLM_PAYLOADS = 1000;

/** The payloads of a body in any of the three log formats; a malformed body is a 400 naming the line or payload. */
export function parseLitellmBody(text: string): unknown[] {
  const payloads = parsePayloads(text);
  if (payloads.length === 0) throw new AppError("BAD_REQUEST", "The body holds no LiteLLM logging payloads");
  // Every StandardLoggingPayload has a string id and a status; anything else is not LiteLLM's.
  const notObject = payloads.findIndex((p) => p === null || typeof p !== "object" || Array.isArray(p) || typeof (p as Payload).id !== "string" || typeof (p as Payload).status !== "string");
  if (notObject >= 0) {
    throw new AppError("BAD_REQUEST", `Payload ${notObject} is not a LiteLLM logging payload (an object)`, {
      errors: [{ path: `(body) payload ${notObject}`, message: "must be a StandardLoggingPayload object (with its id and status)" }],
    });
  }
  return payloads;
}

function parsePayloads(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === "") throw new AppError("BAD_REQUEST", "The body is empty: expected LiteLLM logging payloads");
  try {
    const whole = JSON.parse(trimmed) as unknown;
    return Array.isArray(whole) ? whole : [whole];
  } catch {
    // Not one JSON document: newline-delimited JSON, one payload per non-empty line.
  }
  const payloads: unknown[] = [];
  const lines = trimmed.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    try {
      payloads.push(JSON.parse(line));
    } catch {
      throw new AppError("BAD_REQUEST", `Line ${i + 1} of the body is not valid JSON (expected a JSON array, one object, or one object per line)`, {
        errors: [{ path: `(body) line ${i + 1}`, message: "is not valid JSON" }],
      });
    }
  }
  return payloads;
}

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);

/**
 * One payload as an Orgdesk event, or "skip" for a failed call. Agent: the virtual key's alias
 * (one key per agent, aliased with the agent's external id), else `end_user`. Tokens: LiteLLM's
 * `prompt_tokens` counts cached tokens too (OpenAI's convention, which LiteLLM also applies to
 * Anthropic), so fresh input is derived (docs/billing.md). LiteLLM's own `response_cost` is not
 * used: cost comes from Orgdesk's prices, like every other source. Anything malformed is left as
 * it is, for the ingestion's validation to reject with field-level messages.
 */
export function litellmEvent(raw: object): Record<string, unknown> | "skip" {
  const p = raw as Payload;
  if (p.status !== "success") return "skip";
  const usage = p.metadata && typeof p.metadata === "object" ? (p.metadata.usage_object ?? null) : null;
  const details = usage && typeof usage.prompt_tokens_details === "object" && usage.prompt_tokens_details ? (usage.prompt_tokens_details as Record<string, unknown>) : null;
  const cacheRead = count(usage?.cache_read_input_tokens) ?? count(details?.cached_tokens) ?? 0;
  const cacheWrite = count(usage?.cache_creation_input_tokens) ?? count(details?.cache_creation_tokens) ?? 0;
  const prompt = count(p.prompt_tokens);
  const output = count(p.completion_tokens);
  const tokens = prompt !== undefined && output !== undefined ? fromInclusiveInput({ totalInput: prompt, output, cacheRead, cacheWrite }) : { input_tokens: p.prompt_tokens, output_tokens: p.completion_tokens };
  const agent = str(p.metadata && typeof p.metadata === "object" ? p.metadata.user_api_key_alias : undefined) ?? str(p.end_user);
  const end = typeof p.endTime === "number" && Number.isFinite(p.endTime) ? new Date(Math.round(p.endTime * 1000)) : undefined;
  return {
    id: typeof p.id === "string" ? `litellm:${p.id}` : p.id,
    ...(agent !== undefined ? { agent_external_id: agent } : {}),
    model: p.model,
    provider: str(p.custom_llm_provider) ?? null,
    ...tokens,
    ...(end && !Number.isNaN(end.getTime()) ? { occurred_at: end.toISOString() } : p.endTime !== undefined ? { occurred_at: p.endTime } : {}),
  };
}

/** Maps every payload of a body; failed calls are counted, not billed. */
export function litellmBatch(payloads: unknown[]): LitellmBatch {
  const events: Record<string, unknown>[] = [];
  const positions: number[] = [];
  let skipped = 0;
  payloads.forEach((raw, position) => {
    const e = litellmEvent(raw as object);
    if (e === "skip") skipped++;
    else {
      events.push(e);
      positions.push(position);
    }
  });
  return { events, positions, skipped };
}
