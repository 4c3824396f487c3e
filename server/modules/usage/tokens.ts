/**
 * Token normalisation (docs/billing.md, "Token fields from other sources"). Orgdesk's
 * `input_tokens` counts fresh (uncached) input only; cache reads and cache writes are fields of
 * their own, each priced at its own rate. OpenTelemetry GenAI spans, the Vercel AI SDK,
 * OpenInference and OpenAI-style `prompt_tokens` (LiteLLM's too) count cached tokens inside their
 * input total, so a source mapper converts with `fromInclusiveInput` before an event is ingested.
 */

export interface TokenCounts {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
}

/**
 * Fresh input from an input total that includes cached tokens:
 * `max(0, total − cache_read − cache_write)`. A source whose cache counts exceed its total (a
 * provider that already excluded them) cannot yield negative input.
 */
export function freshInput(totalInput: number, cacheRead: number, cacheWrite: number): number {
  return Math.max(0, totalInput - cacheRead - cacheWrite);
}

/** Orgdesk's token fields from a source's counts whose input total includes cache reads and writes. */
export function fromInclusiveInput(counts: { totalInput: number; output: number; cacheRead?: number; cacheWrite?: number }): TokenCounts {
  const cacheRead = counts.cacheRead ?? 0;
  const cacheWrite = counts.cacheWrite ?? 0;
  return {
    input_tokens: freshInput(counts.totalInput, cacheRead, cacheWrite),
    output_tokens: counts.output,
    cache_read_tokens: cacheRead,
    cache_write_tokens: cacheWrite,
  };
}
