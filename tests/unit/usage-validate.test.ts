import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fastEvent } from "../../server/modules/usage/fast-validate";
import { usageEventInput } from "../../server/modules/usage/schema";

/** Comparable form of a parsed event: keys with undefined dropped, dates as ISO strings. */
const plain = (v: object | null) =>
  v === null ? null : Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, x instanceof Date ? x.toISOString() : x]));

/** What the fast path answers must be what zod answers; when it declines (null), zod decides. */
function agrees(raw: unknown) {
  const fast = fastEvent(raw);
  const slow = usageEventInput.safeParse(raw);
  if (fast !== null) {
    expect(slow.success).toBe(true);
    expect(plain(fast)).toEqual(plain(slow.data!));
  }
  return fast;
}

const AGENT = "3f2c1a9e-1111-4222-8333-944455556666";
const base = { id: "ev-1", agent_id: AGENT, model: "gpt-4o", input_tokens: 1000, output_tokens: 500 };

describe("the hand-written usage event check", () => {
  test("accepts the usual shapes exactly as zod parses them", () => {
    for (const raw of [
      base,
      { ...base, provider: " OpenAI ", model: " GPT-4o ", cache_read_tokens: 0, cache_write_tokens: 12 },
      { ...base, provider: null, cost_usd: "0.012500", occurred_at: "2026-03-01T10:00:00.000Z" },
      { ...base, cost_usd: 0.0125, occurred_at: "2026-03-01T10:00:00Z" },
      { ...base, cost_usd: 1e-7, agent_id: AGENT.toUpperCase(), extra: { any: "metadata" } },
      { ...base, provider: "", occurred_at: "2024-02-29T23:59:59.9Z" },
    ]) {
      expect(agrees(raw)).not.toBeNull();
    }
  });

  test("declines what is invalid or unusual, leaving the answer and its messages to zod", () => {
    for (const raw of [
      null,
      [base],
      "event",
      { ...base, id: "" },
      { ...base, id: "x".repeat(129) },
      { ...base, id: "a\nb" },
      { ...base, agent_id: "not-a-uuid" },
      { ...base, model: "   " },
      { ...base, model: 4 },
      { ...base, provider: "x".repeat(65) },
      { ...base, input_tokens: -1 },
      { ...base, input_tokens: 1.5 },
      { ...base, output_tokens: "5" },
      { ...base, cache_read_tokens: null },
      { ...base, cost_usd: "-1" },
      { ...base, cost_usd: "0.0000000000001" },
      { ...base, cost_usd: true },
      { ...base, occurred_at: "2026-02-30T00:00:00Z" },
      { ...base, occurred_at: "2026-03-01T24:00:00Z" },
      { ...base, occurred_at: "1999-12-31T23:59:59Z" },
      { ...base, occurred_at: "2026-03-01T10:00:00+02:00" },
      { ...base, occurred_at: "2026-03-01" },
      { ...base, occurred_at: 1767225600000 },
    ]) {
      expect(agrees(raw)).toBeNull();
    }
  });

  test("never disagrees with zod on generated events, valid or not", () => {
    const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
    const event = fc.record(
      {
        id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer()),
        agent_id: fc.oneof(fc.uuid(), fc.string()),
        model: fc.oneof(fc.constantFrom("gpt-4o", " Claude-Sonnet-4 ", ""), fc.string({ maxLength: 140 })),
        provider: maybe(fc.oneof(fc.constant(null), fc.string({ maxLength: 70 }))),
        input_tokens: fc.oneof(fc.integer({ min: -5, max: 2_000_000 }), fc.double(), fc.constant(1e12), fc.constant(1e12 + 1)),
        output_tokens: fc.integer({ min: -1, max: 10_000 }),
        cache_read_tokens: maybe(fc.oneof(fc.integer({ min: -1, max: 10_000 }), fc.constant(null))),
        cache_write_tokens: maybe(fc.integer({ min: 0, max: 10_000 })),
        cost_usd: maybe(fc.oneof(fc.constant(null), fc.double({ min: -1, max: 10, noNaN: true }), fc.stringMatching(/^-?\d{1,14}(\.\d{0,14})?$/))),
        occurred_at: maybe(
          fc.oneof(
            fc.date({ min: new Date("1990-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString()),
            fc.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,4})?(Z|[+-]\d{2}:\d{2})$/),
          ),
        ),
      },
      { requiredKeys: ["id", "agent_id", "model", "input_tokens", "output_tokens"] },
    );
    fc.assert(fc.property(event, (raw) => void agrees(raw)), { numRuns: 3000 });
  });
});

describe("the hand-written check keeps every limit the document states", () => {
  test("a cost string longer than 32 characters (spaces, leading zeros) is left to zod, which refuses it", () => {
    for (const cost_usd of [" ".repeat(30) + "1.5", "0".repeat(40) + "1.5"]) {
      expect(agrees({ ...base, cost_usd })).toBeNull();
      expect(usageEventInput.safeParse({ ...base, cost_usd }).success).toBe(false);
    }
  });
});
