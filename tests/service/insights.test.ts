import { describe, expect, test } from "bun:test";
import { user, ctxFor } from "../support/actors";
import { event, ingest, putFx, putPrice } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { insightsInput, whatIfInput } from "../../server/modules/insights/schema";
import * as insights from "../../server/modules/insights/service";
import * as billing from "../../server/modules/billing/service";
import { orgInvoicingInput } from "../../server/modules/invoices/schema";
import * as invoices from "../../server/modules/invoices/service";
import { monthOf, monthStart } from "../../server/shared/time";

// Hand-computed figures (docs/guardrails.md, "Insights", uses the same ones). The arithmetic is
// written beside every expectation.
const database = await testDatabase();
const ctx = ctxFor(database);
const BEFORE = "2024-12-01T00:00:00Z";
const current = monthOf(new Date());
const startOfCurrent = monthStart(current).toISOString();

const allowances = (input: Record<string, unknown>) => insights.allowances({ ctx, input: insightsInput.parse(input) });
const whatIf = (input: Record<string, unknown>) => insights.whatIf({ ctx, input: whatIfInput.parse(input) });

async function problem(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    const e = error as { code?: string; issues?: { path: string; message: string }[]; errors?: { path: string; message: string }[] };
    return { code: e.code, paths: (e.errors ?? e.issues ?? []).map((i) => i.path) };
  }
  throw new Error("expected a refusal");
}

// Model prices, USD per 1M tokens. `insight-model` has no cache prices: they fall back to input.
await putPrice(ctx, { model: "insight-model", effective_from: "2024-01-01", input_per_m: "3.00", output_per_m: "15.00" });
await putPrice(ctx, { model: "alt-model", effective_from: "2025-01-01", input_per_m: "10.00", output_per_m: "30.00", cache_read_per_m: "1.00" });
// A later entry that a June 2025 what-if must not use.
await putPrice(ctx, { model: "alt-model", effective_from: "2025-07-01", input_per_m: "100.00", output_per_m: "300.00" });

describe("break-even allowance per agent (this month)", () => {
  test("USD organization: allowance = projected revenue, in tokens at the agent's blended price, share used", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const priced = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE, name: "Priced" });
    const unpriced = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE, name: "Unpriced" });
    await ingest(ctx, [
      // cost = (200 000 × 3.00 + 100 000 × 15.00) ÷ 1e6 = (600 000 + 1 500 000) ÷ 1e6 = 2.10 USD
      event(priced.id, { model: "insight-model", input_tokens: 200_000, output_tokens: 100_000, occurred_at: startOfCurrent }),
      event(unpriced.id, { model: "no-price-model-insights", input_tokens: 4_000, output_tokens: 1_000, occurred_at: startOfCurrent }),
    ]);

    const res = await allowances({ id: org.id });
    expect(res).toMatchObject({ organization_id: org.id, currency: "USD", month: current, is_partial: true, fx_rate: "1", margin_floor_pct: "0" });
    expect(res.agents).toEqual([
      {
        agent_id: priced.id,
        agent_name: "Priced",
        // assigned the whole month at 99.00 → projected 99.00; floor 0 → allowance 99.00 = 99 USD at FX 1
        projected_revenue: "99.00",
        allowance: "99.00",
        allowance_usd: "99.0000",
        cost_usd: "2.1000",
        remaining_usd: "96.9000", // 99 − 2.10
        share_used_pct: "2.1", // 2.10 ÷ 99 × 100 = 2.1212… → 2.1
        tokens_used: 300_000,
        blended_price_per_m: "7.000000", // 2.10 ÷ 300 000 × 1e6
        allowance_tokens: 14_142_857, // 99 × 300 000 ÷ 2.10 = 14 142 857.14… rounded down
        remaining_tokens: 13_842_857, // 14 142 857 − 300 000
        unpriced_events: 0,
      },
      {
        agent_id: unpriced.id,
        agent_name: "Unpriced",
        projected_revenue: "99.00",
        allowance: "99.00",
        allowance_usd: "99.0000",
        cost_usd: "0.0000", // its only event has no price yet
        remaining_usd: "99.0000",
        share_used_pct: "0.0",
        tokens_used: 5_000,
        blended_price_per_m: null, // no priced usage: no price to convert the allowance with
        allowance_tokens: null,
        remaining_tokens: null,
        unpriced_events: 1,
      },
    ]);

    // A margin floor of 20 %: allowance = (1 − 20 ÷ 100) × 99.00 = 79.20
    const floored = await allowances({ id: org.slug, margin_floor_pct: "20" });
    expect(floored.margin_floor_pct).toBe("20");
    expect(floored.agents[0]).toMatchObject({
      allowance: "79.20",
      allowance_usd: "79.2000",
      remaining_usd: "77.1000", // 79.20 − 2.10
      share_used_pct: "2.7", // 2.10 ÷ 79.20 × 100 = 2.6515… → 2.7
      allowance_tokens: 11_314_285, // 79.20 × 300 000 ÷ 2.10 = 11 314 285.71… rounded down
      remaining_tokens: 11_014_285,
    });
  });

  test("EUR organization: the allowance is converted to USD at the month's FX rate", async () => {
    // The rate in effect for the current month: the latest effective before its end.
    await putFx(ctx, "EUR", `${current}-01`, "0.8");
    const org = await makeOrg(ctx, { billing_rate_per_agent: "92.00", currency: "EUR", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    // 1 000 input + 500 output tokens, cost given by the runtime: 10.00 USD
    await ingest(ctx, [event(agent.id, { cost_usd: "10.00", occurred_at: startOfCurrent })]);
    const res = await allowances({ id: org.id, margin_floor_pct: 0 });
    expect(res.fx_rate).toBe("0.8");
    expect(res.agents).toEqual([
      expect.objectContaining({
        projected_revenue: "92.00",
        allowance: "92.00",
        allowance_usd: "115.0000", // 92.00 EUR ÷ 0.8 EUR per USD
        cost_usd: "10.0000",
        remaining_usd: "105.0000", // 115 − 10
        share_used_pct: "8.7", // 10 ÷ 115 × 100 = 8.6956… → 8.7
        tokens_used: 1_500,
        blended_price_per_m: "6666.666667", // 10 ÷ 1 500 × 1e6 = 6 666.666…
        allowance_tokens: 17_250, // 115 × 1 500 ÷ 10
        remaining_tokens: 15_750,
      }),
    ]);
  });

  test("a floor outside 0–100 is refused on its field; an organization-bound caller gets 403", async () => {
    const org = await makeOrg(ctx, { created_at: BEFORE });
    expect(insightsInput.safeParse({ id: org.id, margin_floor_pct: "100.5" }).success).toBe(false);
    expect(insightsInput.safeParse({ id: org.id, margin_floor_pct: "12.55" }).success).toBe(false);
    expect(insightsInput.safeParse({ id: org.id, margin_floor_pct: "12.5" }).success).toBe(true);
    const bound = ctxFor(database, user("owner", org.id));
    expect(await problem(insights.allowances({ ctx: bound, input: insightsInput.parse({ id: org.id }) }))).toMatchObject({ code: "FORBIDDEN" });
    expect(await problem(insights.whatIf({ ctx: bound, input: whatIfInput.parse({ id: org.id, month: "2025-06", rate: "1" }) }))).toMatchObject({ code: "FORBIDDEN" });
    // Unbound readers see costs, so they see insights.
    const viewer = ctxFor(database, user("viewer"));
    expect((await insights.allowances({ ctx: viewer, input: insightsInput.parse({ id: org.id }) })).agents).toEqual([]);
  });
});

describe("break-even allowance of an organization that bills usage", () => {
  test("the allowance counts the agent's usage charge as revenue, as the billing summary does", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE, name: "Billed usage" });
    await invoices.orgSettingsPut({ ctx, input: orgInvoicingInput.parse({ id: org.id, usage_markup_pct: "25" }) });
    // cost = (200 000 × 3.00 + 100 000 × 15.00) ÷ 1e6 = 2.10 USD
    await ingest(ctx, [event(agent.id, { model: "insight-model", input_tokens: 200_000, output_tokens: 100_000, occurred_at: "2025-06-10T00:00:00Z" })]);
    // June 2025, billed the whole month: seat 99.00; usage charge 2.10 × 1.25 = 2.625 → 2.62 (half to even);
    // revenue 99.00 + 2.62 = 101.62.
    const res = await allowances({ id: org.id, month: "2025-06" });
    expect(res.agents).toEqual([
      expect.objectContaining({
        projected_revenue: "101.62",
        allowance: "101.62",
        allowance_usd: "101.6200",
        cost_usd: "2.1000",
        remaining_usd: "99.5200", // 101.62 − 2.10
        share_used_pct: "2.1", // 2.10 ÷ 101.62 × 100 = 2.066… → 2.1
        blended_price_per_m: "7.000000",
        allowance_tokens: 14_517_142, // 101.62 × 300 000 ÷ 2.10 = 14 517 142.85… rounded down
        remaining_tokens: 14_217_142, // 14 517 142 − 300 000
      }),
    ]);
    // Floor 20 %: 0.8 × 101.62 = 81.296 → 81.30; in tokens 81.296 × 300 000 ÷ 2.10 = 11 613 714.28… → 11 613 714.
    const floor = await allowances({ id: org.id, month: "2025-06", margin_floor_pct: "20" });
    expect(floor.agents[0]).toMatchObject({ allowance: "81.30", allowance_usd: "81.2960", allowance_tokens: 11_613_714, share_used_pct: "2.6" }); // 2.10 ÷ 81.296 = 2.58… %
    // The billing summary of the month reports the same revenue.
    const summary = await billing.summary({ ctx, input: { id: org.id, from: "2025-06", to: "2025-06" } });
    expect(summary.summary[0]).toMatchObject({ seat_revenue: "99.00", usage_revenue: "2.62", projected_revenue: "101.62" });
  });
});

describe("what-if for a past month", () => {
  // June 2025 has 30 days. A: the whole month at 99.00; B: from June 16, 15 of 30 days → 49.50.
  const setup = (async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const a = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE, name: "Alpha" });
    const b = await makeAgent(ctx, { org_id: org.id, created_at: "2025-06-16T00:00:00Z", name: "Bravo" });
    await ingest(ctx, [
      // A, priced at insight-model: (200 000 × 3 + 100 000 × 15 + 50 000 cache-read × 3 (input price)) ÷ 1e6 = 2.25 USD
      event(a.id, { model: "insight-model", input_tokens: 200_000, output_tokens: 100_000, cache_read_tokens: 50_000, occurred_at: "2025-06-10T08:00:00Z" }),
      // B, cost given: 1.00 USD for 1 000 input + 500 output tokens
      event(b.id, { cost_usd: "1.00", occurred_at: "2025-06-20T08:00:00Z" }),
    ]);
    return { org, a, b };
  })();

  const ACTUAL = {
    revenue: "148.50", // 99.00 + 49.50
    cost_usd: "3.2500", // 2.25 + 1.00
    cost: "3.25",
    margin: "145.25",
    margin_pct: "97.8", // 145.25 ÷ 148.50 × 100 = 97.811…
  };

  test("another model: the month's actual token mix re-priced at the price in effect that month", async () => {
    const { org, a, b } = await setup;
    const res = await whatIf({ id: org.id, month: "2025-06", model: "ALT-model" });
    expect(res.scenario).toEqual({
      model: "alt-model",
      rate: null,
      // the entry of 2025-01-01, not the one from July; cache-write falls back to the input price
      price: { effective_from: "2025-01-01", input_per_m: "10", output_per_m: "30", cache_read_per_m: "1", cache_write_per_m: "10" },
    });
    expect(res.actual).toEqual(ACTUAL);
    expect(res.what_if).toEqual({
      revenue: "148.50",
      cost_usd: "5.0750", // 5.0500 + 0.0250
      cost: "5.07", // 5.05 + 0.02 (B's 0.025 rounds half-even to 0.02)
      margin: "143.43", // 148.50 − 5.07
      margin_pct: "96.6", // 143.43 ÷ 148.50 × 100 = 96.585…
    });
    expect(res.agents).toEqual([
      {
        agent_id: a.id,
        agent_name: "Alpha",
        billed_days: 30,
        input_tokens: 200_000,
        output_tokens: 100_000,
        cache_read_tokens: 50_000,
        cache_write_tokens: 0,
        actual: { rate: "99.00", revenue: "99.00", cost_usd: "2.2500", cost: "2.25", margin: "96.75", margin_pct: "97.7" }, // 96.75 ÷ 99 = 97.72…
        // (200 000 × 10 + 100 000 × 30 + 50 000 × 1) ÷ 1e6 = (2 000 000 + 3 000 000 + 50 000) ÷ 1e6 = 5.05
        what_if: { rate: "99.00", revenue: "99.00", cost_usd: "5.0500", cost: "5.05", margin: "93.95", margin_pct: "94.9" }, // 93.95 ÷ 99 = 94.90…
      },
      {
        agent_id: b.id,
        agent_name: "Bravo",
        billed_days: 15,
        input_tokens: 1_000,
        output_tokens: 500,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        actual: { rate: "99.00", revenue: "49.50", cost_usd: "1.0000", cost: "1.00", margin: "48.50", margin_pct: "98.0" }, // 48.50 ÷ 49.50 = 97.97…
        // (1 000 × 10 + 500 × 30) ÷ 1e6 = 0.025 → 0.02 half-even; 49.50 − 0.02 = 49.48; 49.48 ÷ 49.50 = 99.959… → 100.0
        what_if: { rate: "99.00", revenue: "49.50", cost_usd: "0.0250", cost: "0.02", margin: "49.48", margin_pct: "100.0" },
      },
    ]);
  });

  test("another rate: every billed second at the new rate, costs unchanged", async () => {
    const { org } = await setup;
    const res = await whatIf({ id: org.slug, month: "2025-06", rate: 120 });
    expect(res.scenario).toEqual({ model: null, rate: "120.00", price: null });
    expect(res.actual).toEqual(ACTUAL);
    // A: 120.00 × 30/30 = 120.00; B: 120.00 × 15/30 = 60.00
    expect(res.what_if).toEqual({ revenue: "180.00", cost_usd: "3.2500", cost: "3.25", margin: "176.75", margin_pct: "98.2" }); // 176.75 ÷ 180 = 98.19…
    expect(res.agents.map((x) => x.what_if)).toEqual([
      { rate: "120.00", revenue: "120.00", cost_usd: "2.2500", cost: "2.25", margin: "117.75", margin_pct: "98.1" }, // 117.75 ÷ 120 = 98.125 → 98.1 (half-even)
      { rate: "120.00", revenue: "60.00", cost_usd: "1.0000", cost: "1.00", margin: "59.00", margin_pct: "98.3" }, // 59 ÷ 60 = 98.33…
    ]);
    // Both at once.
    const both = await whatIf({ id: org.id, month: "2025-06", rate: "120", model: "alt-model" });
    expect(both.what_if).toEqual({ revenue: "180.00", cost_usd: "5.0750", cost: "5.07", margin: "174.93", margin_pct: "97.2" }); // 174.93 ÷ 180 = 97.18…
  });

  test("refusals: the current month, no scenario, a model without a price that month", async () => {
    const { org } = await setup;
    expect(await problem(whatIf({ id: org.id, month: current, rate: "1" }))).toEqual({ code: "VALIDATION", paths: ["month"] });
    expect(whatIfInput.safeParse({ id: org.id, month: "2025-06" }).success).toBe(false);
    // alt-model's first price is from 2025-01-01
    expect(await problem(whatIf({ id: org.id, month: "2024-12", model: "alt-model" }))).toEqual({ code: "VALIDATION", paths: ["model"] });
    expect(await problem(whatIf({ id: org.id, month: "2025-06", model: "never-priced-model" }))).toEqual({ code: "VALIDATION", paths: ["model"] });
  });
});
