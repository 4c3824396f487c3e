/**
 * A hand-written check for the usual shape of a usage event, for ingestion's hot path (batches of
 * 1000 events; zod's per-event cost dominated the server's CPU, docs/benchmarks.md B4). It accepts
 * a strict subset of what `usageEventInput` accepts and returns exactly what zod would return for
 * it; anything else (invalid, or merely unusual, such as an offset other than `Z`) returns null and
 * goes through zod, which decides and words the field-level messages. `tests/unit/usage-validate.test.ts`
 * checks the two agree.
 */
import { DECIMAL_STRING_MAX } from "../../shared/fields";
import { parseDecimalInput } from "../../shared/money";
import { UUID_PATTERN } from "../../shared/uuid";
import type { UsageEventInput } from "./schema";

const CONTROL = /[\u0000-\u001f\u007f]/;
/** UTC instants as runtimes send them (`toISOString()` and the like): `Z` only, 0–3 decimals. */
const UTC_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,3})?Z$/;
/** An external agent reference as sent (no surrounding spaces to trim, no control characters). */
const EXTERNAL_REF = /^[^\s\u0000-\u001f\u007f]{1,128}$/;
const MAX_TOKENS = 1_000_000_000_000;

const tokens = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TOKENS;

function instant(v: string): Date | null {
  const m = UTC_INSTANT.exec(v);
  if (!m) return null;
  const d = new Date(v);
  const t = d.getTime();
  if (Number.isNaN(t) || d.getUTCFullYear() < 2000) return null;
  // A real calendar date and time (no 2026-02-30 rolled over into March, no 24:00).
  if (
    d.getUTCFullYear() !== Number(m[1]) ||
    d.getUTCMonth() + 1 !== Number(m[2]) ||
    d.getUTCDate() !== Number(m[3]) ||
    d.getUTCHours() !== Number(m[4]) ||
    d.getUTCMinutes() !== Number(m[5]) ||
    d.getUTCSeconds() !== Number(m[6])
  ) {
    return null;
  }
  return d;
}

/** The parsed event when `raw` has the usual, valid shape; null to let zod decide. */
export function fastEvent(raw: unknown): UsageEventInput | null {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const { id, agent_id, agent_external_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, occurred_at } = r;
  if (typeof id !== "string" || id.length < 1 || id.length > 128 || CONTROL.test(id)) return null;
  if (agent_external_id === undefined) {
    if (typeof agent_id !== "string" || !UUID_PATTERN.test(agent_id)) return null;
  } else if (agent_id !== undefined || typeof agent_external_id !== "string" || !EXTERNAL_REF.test(agent_external_id)) return null;
  if (typeof model !== "string") return null;
  const m = model.trim().toLowerCase();
  if (m.length < 1 || m.length > 128 || CONTROL.test(m)) return null;
  let p: string | null | undefined;
  if (provider === undefined || provider === null) p = provider;
  else if (typeof provider === "string") {
    p = provider.trim().toLowerCase();
    if (p.length > 64 || CONTROL.test(p)) return null;
  } else return null;
  if (!tokens(input_tokens) || !tokens(output_tokens)) return null;
  if (cache_read_tokens !== undefined && !tokens(cache_read_tokens)) return null;
  if (cache_write_tokens !== undefined && !tokens(cache_write_tokens)) return null;
  let cost: string | null | undefined;
  if (cost_usd === undefined || cost_usd === null) cost = cost_usd;
  else if (typeof cost_usd === "number" || (typeof cost_usd === "string" && cost_usd.length <= DECIMAL_STRING_MAX)) {
    const parsed = parseDecimalInput(cost_usd, 12, 12);
    if (!parsed.ok) return null;
    cost = parsed.value;
  } else return null;
  let at: Date | undefined;
  if (occurred_at !== undefined) {
    if (typeof occurred_at !== "string") return null;
    const d = instant(occurred_at);
    if (!d) return null;
    at = d;
  }
  const out: UsageEventInput =
    agent_external_id === undefined
      ? { id, agent_id: agent_id as string, model: m, input_tokens, output_tokens }
      : { id, agent_external_id: agent_external_id as string, model: m, input_tokens, output_tokens };
  if (p !== undefined) out.provider = p;
  if (cache_read_tokens !== undefined) out.cache_read_tokens = cache_read_tokens as number;
  if (cache_write_tokens !== undefined) out.cache_write_tokens = cache_write_tokens as number;
  if (cost !== undefined) out.cost_usd = cost;
  if (at !== undefined) out.occurred_at = at;
  return out;
}
