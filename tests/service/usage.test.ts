import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import type { Principal } from "../../server/auth/principal";
import * as billing from "../../server/modules/billing/service";
import * as prices from "../../server/modules/prices/service";
import * as usage from "../../server/modules/usage/service";
import { ctxFor, user } from "../support/actors";
import { event, ingest, putPrice, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

const database = await testDatabase();
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";

async function storedCost(id: string): Promise<string | null> {
  const [row] = await rows<{ cost: string | null }>(database.db, sql`select cost_usd::text as cost from usage_events where id = ${id}`);
  return row ? row.cost : "missing";
}

const org = await makeOrg(ctx, { billing_rate_per_agent: "10.00", created_at: BEFORE });
const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });

describe("ingestion", () => {
  test("one event is stored once; the same id with the same content again is a duplicate", async () => {
    const e = event(agent.id, { occurred_at: "2025-06-01T10:00:00Z" });
    expect(await ingest(ctx, [e])).toEqual({ accepted: 1, duplicates: 0, unpriced: 0, rejected: [] });
    expect(await ingest(ctx, [e])).toEqual({ accepted: 0, duplicates: 1, unpriced: 0, rejected: [] });
    const [row] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events where id = ${e.id}`);
    expect(row!.n).toBe("1");
  });

  test("the same id with different content is rejected and the stored event is unchanged", async () => {
    const e = event(agent.id, { occurred_at: "2025-06-01T10:00:00Z", cost_usd: "0.10" });
    await ingest(ctx, [e]);
    const res = await ingest(ctx, [{ ...e, output_tokens: 501 }]);
    expect(res.accepted).toBe(0);
    expect(res.rejected).toEqual([{ index: 0, id: e.id, code: "id_conflict", message: expect.stringContaining("different content") }]);
    expect(await storedCost(e.id)).toBe("0.100000000000000000");
  });

  test("an event without occurred_at can be re-sent later as a duplicate", async () => {
    const e = event(agent.id);
    expect((await ingest(ctx, [e])).accepted).toBe(1);
    await Bun.sleep(5);
    expect(await ingest(ctx, [e])).toMatchObject({ accepted: 0, duplicates: 1 });
  });

  test("a batch stores its valid events and says exactly which were rejected and why", async () => {
    const other = await makeAgent(ctx, { org_id: org.id, created_at: "2025-06-15T00:00:00Z" });
    const dup = event(agent.id, { occurred_at: "2025-06-02T00:00:00Z" });
    const batch = [
      event(agent.id, { occurred_at: "2025-06-02T00:00:00Z" }),
      { id: "bad-tokens", agent_id: agent.id, model: "gpt-4o", input_tokens: -1, output_tokens: 1.5 },
      event(crypto.randomUUID(), { occurred_at: "2025-06-02T00:00:00Z" }),
      event(other.id, { occurred_at: "2025-06-14T23:59:59Z" }),
      event(agent.id, { occurred_at: new Date(Date.now() + 10 * 60_000).toISOString() }),
      dup,
      dup,
      { ...dup, input_tokens: 7 },
      { agent_id: agent.id, model: "gpt-4o", input_tokens: 1, output_tokens: 1 },
      event("not-a-uuid"),
      event(agent.id, { id: "x".repeat(129) }),
      "not an object",
    ];
    const res = await ingest(ctx, batch);
    expect(res.accepted).toBe(2);
    expect(res.duplicates).toBe(1);
    expect(res.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, "invalid"],
      [2, "unknown_agent"],
      [3, "before_agent_created"],
      [4, "invalid"],
      [7, "id_conflict"],
      [8, "invalid"],
      [9, "invalid"],
      [10, "invalid"],
      [11, "invalid"],
    ]);
    expect(res.rejected[0]!.message).toContain("input_tokens");
    expect(res.rejected[0]!.message).toContain("output_tokens");
    expect(res.rejected[3]!.message).toContain("5 minutes");
  });

  test("more than 1000 events in one call is refused as too large, storing nothing", async () => {
    const events = Array.from({ length: 1001 }, () => event(agent.id, { occurred_at: "2025-06-03T00:00:00Z" }));
    await expect(ingest(ctx, events)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    const [row] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events where occurred_at = '2025-06-03T00:00:00Z'`);
    expect(row!.n).toBe("0");
  });

  test("an organization-scoped key may ingest only for agents in its organization at occurred_at", async () => {
    const mine = await makeOrg(ctx, { created_at: BEFORE });
    const theirs = await makeOrg(ctx, { created_at: BEFORE });
    const a = await makeAgent(ctx, { org_id: mine.id, created_at: BEFORE });
    const b = await makeAgent(ctx, { org_id: theirs.id, created_at: BEFORE });
    const key: Principal = { kind: "api_key", keyId: "k1", prefix: "odk_usage", permission: "usage", orgId: mine.id };
    const keyCtx = ctxFor(database, key);
    const res = await ingest(keyCtx, [event(a.id, { occurred_at: "2025-06-05T00:00:00Z" }), event(b.id, { occurred_at: "2025-06-05T00:00:00Z" })]);
    expect(res.accepted).toBe(1);
    expect(res.rejected).toEqual([{ index: 1, id: expect.any(String), code: "unknown_agent", message: expect.any(String) }]);
    // A usage key may do nothing else.
    await expect(billing.summary({ ctx: keyCtx, input: { id: mine.id } })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  test("a viewer may not ingest; a bound admin may not read model prices", async () => {
    await expect(ingest(ctxFor(database, user("viewer")), [event(agent.id)])).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(prices.list({ ctx: ctxFor(database, user("admin", org.id)) })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

describe("pricing", () => {
  test("an event is priced from the table: input, output, cache read, and cache write falling back to input", async () => {
    // gpt-4o: 2.50 in, 10.00 out, 1.25 cache read, no cache-write price (→ 2.50).
    const e = event(agent.id, { occurred_at: "2025-06-04T00:00:00Z", input_tokens: 1000, output_tokens: 500, cache_read_tokens: 200, cache_write_tokens: 100 });
    await ingest(ctx, [e]);
    // (1000×2.50 + 500×10 + 200×1.25 + 100×2.50) ÷ 1e6 = 0.008
    expect(await storedCost(e.id)).toBe("0.008000000000000000");
  });

  test("model names are case-insensitive and a dated snapshot uses its base model's price", async () => {
    const a = event(agent.id, { model: "GPT-4o-mini", occurred_at: "2025-06-04T00:00:00Z", input_tokens: 1, output_tokens: 0 });
    const b = event(agent.id, { model: "claude-sonnet-4-20250514", occurred_at: "2025-06-04T00:00:00Z", input_tokens: 0, output_tokens: 3 });
    expect((await ingest(ctx, [a, b])).unpriced).toBe(0);
    expect(await storedCost(a.id)).toBe("0.000000150000000000");
    expect(await storedCost(b.id)).toBe("0.000045000000000000");
  });

  test("a cost carried by the event is used as is, exactly", async () => {
    const e = event(agent.id, { occurred_at: "2025-06-04T00:00:00Z", cost_usd: 1e-7 });
    await ingest(ctx, [e]);
    expect(await storedCost(e.id)).toBe("0.000000100000000000");
  });

  test("prices with 12 decimals per 1M tokens price a single token without rounding", async () => {
    await putPrice(ctx, { model: "tiny-model", effective_from: "2025-01-01", input_per_m: "0.123456789012", output_per_m: "0" });
    const e = event(agent.id, { model: "tiny-model", occurred_at: "2025-06-04T00:00:00Z", input_tokens: 1, output_tokens: 0 });
    await ingest(ctx, [e]);
    expect(await storedCost(e.id)).toBe("0.000000123456789012");
  });

  test("an unpriced model is stored, counted in unpriced_events, and priced once its price is added", async () => {
    const o = await makeOrg(ctx, { billing_rate_per_agent: "50.00", created_at: BEFORE });
    const a = await makeAgent(ctx, { org_id: o.id, created_at: BEFORE });
    const res = await ingest(ctx, [
      event(a.id, { model: "acme-llm-2", occurred_at: "2025-06-10T00:00:00Z", input_tokens: 1_000_000, output_tokens: 1_000_000 }),
      event(a.id, { model: "acme-llm-2-2025-05-01", occurred_at: "2025-06-11T00:00:00Z", input_tokens: 1_000_000, output_tokens: 0 }),
      event(a.id, { model: "gpt-4o", occurred_at: "2025-06-10T00:00:00Z", input_tokens: 1_000_000, output_tokens: 0 }),
    ]);
    expect(res).toMatchObject({ accepted: 3, unpriced: 2 });
    let s = await billing.summary({ ctx, input: { id: o.id, from: "2025-06", to: "2025-06" } });
    expect(s.summary[0]).toMatchObject({ unpriced_events: 2, total_cost_usd: "2.5000", total_input_tokens: 3_000_000 });

    // A price effective only after the events does not price them.
    const later = await putPrice(ctx, { model: "acme-llm-2", effective_from: "2025-07-01", input_per_m: "9", output_per_m: "9" });
    expect(later.priced).toBe(0);
    const added = await putPrice(ctx, { model: "acme-llm-2", effective_from: "2025-01-01", input_per_m: "1.00", output_per_m: "4.00" });
    expect(added.priced).toBe(2);
    s = await billing.summary({ ctx, input: { id: o.id, from: "2025-06", to: "2025-06" } });
    // 2.50 (gpt-4o) + 1.00 + 4.00 + 1.00 = 8.50
    expect(s.summary[0]).toMatchObject({ unpriced_events: 0, total_cost_usd: "8.5000", total_cost: "8.50", margin: "41.50" });
    const t = await totals(database, o.id);
    expect(t.rolled).toEqual(t.raw);
    expect(t.raw.unpriced).toBe("0");
  });

  test("re-pricing a range applies a corrected price; events that carried their own cost keep it", async () => {
    const o = await makeOrg(ctx, { created_at: BEFORE });
    const a = await makeAgent(ctx, { org_id: o.id, created_at: BEFORE });
    const priced = event(a.id, { model: "repriced-model", occurred_at: "2025-08-10T00:00:00Z", input_tokens: 1_000_000, output_tokens: 0 });
    const own = event(a.id, { model: "repriced-model", occurred_at: "2025-08-10T00:00:00Z", input_tokens: 1_000_000, output_tokens: 0, cost_usd: "0.33" });
    const outside = event(a.id, { model: "repriced-model", occurred_at: "2025-09-01T00:00:00Z", input_tokens: 1_000_000, output_tokens: 0 });
    await putPrice(ctx, { model: "repriced-model", effective_from: "2025-01-01", input_per_m: "2.00", output_per_m: "2.00" });
    await ingest(ctx, [priced, own, outside]);
    expect(await storedCost(priced.id)).toBe("2.000000000000000000");
    // Correct the price from August on: already priced events keep their cost until re-priced.
    const put = await putPrice(ctx, { model: "repriced-model", effective_from: "2025-08-01", input_per_m: "1.50", output_per_m: "2.00" });
    expect(put.priced).toBe(0);
    expect(await storedCost(priced.id)).toBe("2.000000000000000000");
    await expect(usage.reprice({ ctx: ctxFor(database, user("admin", o.id)), input: { from: "2025-08-01", to: "2025-08-31" } })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    const result = await usage.reprice({ ctx, input: { from: "2025-08-01", to: "2025-08-31", model: "repriced-model" } });
    expect(result).toMatchObject({ changed: 1, unpriced: 0 });
    expect(await storedCost(priced.id)).toBe("1.500000000000000000");
    expect(await storedCost(own.id)).toBe("0.330000000000000000");
    expect(await storedCost(outside.id)).toBe("2.000000000000000000");
    const t = await totals(database, o.id);
    expect(t.rolled).toEqual(t.raw);
  });

  test("FX and price tables list their entries with the one in effect today marked", async () => {
    const list = await prices.list({ ctx });
    const gpt = list.prices.filter((p) => p.model === "gpt-4o");
    expect(gpt).toHaveLength(1);
    expect(gpt[0]).toMatchObject({ input_per_m: "2.5", output_per_m: "10", cache_read_per_m: "1.25", cache_write_per_m: null, is_current: true });
    const fx = await prices.fxList({ ctx });
    expect(fx.rates.map((r) => r.currency).sort()).toEqual(["AUD", "CAD", "EUR", "GBP", "NGN"]);
  });

  test("raw and rollup totals are equal after everything above", async () => {
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  });
});
