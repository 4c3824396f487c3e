import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { freshInput, fromInclusiveInput } from "../../server/modules/usage/tokens";

describe("token normalisation", () => {
  test("fresh input is the input total less cache reads and cache writes (the worked examples of docs/billing.md)", () => {
    // OpenTelemetry GenAI span: input_tokens 1200 of which 1000 read from the cache.
    expect(fromInclusiveInput({ totalInput: 1200, output: 300, cacheRead: 1000 })).toEqual({ input_tokens: 200, output_tokens: 300, cache_read_tokens: 1000, cache_write_tokens: 0 });
    // LiteLLM in front of Anthropic: prompt_tokens 5000 = 200 fresh + 800 read + 4000 written.
    expect(fromInclusiveInput({ totalInput: 5000, output: 120, cacheRead: 800, cacheWrite: 4000 })).toEqual({ input_tokens: 200, output_tokens: 120, cache_read_tokens: 800, cache_write_tokens: 4000 });
    // No cache at all: nothing changes.
    expect(fromInclusiveInput({ totalInput: 42, output: 7 })).toEqual({ input_tokens: 42, output_tokens: 7, cache_read_tokens: 0, cache_write_tokens: 0 });
  });

  test("never yields negative input, and keeps every cached token", () => {
    expect(freshInput(100, 80, 50)).toBe(0);
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e9), fc.nat(1e9), (total, read, write) => {
        const t = fromInclusiveInput({ totalInput: total, output: 0, cacheRead: read, cacheWrite: write });
        expect(t.input_tokens).toBeGreaterThanOrEqual(0);
        expect(t.cache_read_tokens + t.cache_write_tokens).toBe(read + write);
        if (read + write <= total) expect(t.input_tokens + t.cache_read_tokens + t.cache_write_tokens).toBe(total);
      }),
    );
  });
});
