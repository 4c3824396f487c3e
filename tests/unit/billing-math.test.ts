import { describe, expect, test } from "bun:test";
import { buildLine, costInCurrency, csvField, fxForMonth, marginPct, sumLines, toCsv } from "../../server/modules/billing/lines";
import { type AgentHistory, agentRevenue, type OrgHistory } from "../../server/modules/billing/proration";
import { dec, parseDecimalInput, round } from "../../server/shared/money";

const s = (iso: string) => Date.parse(iso) / 1000;
const JUNE = s("2025-06-01T00:00:00Z");
const JULY = s("2025-07-01T00:00:00Z");
const org = (rate: string, extra: Partial<OrgHistory> = {}): OrgHistory => ({
  active: [{ start: s("2025-01-01T00:00:00Z"), end: null, value: true }],
  rates: [{ start: s("2025-01-01T00:00:00Z"), end: null, value: rate }],
  ...extra,
});
const agent = (extra: Partial<AgentHistory> = {}): AgentHistory => ({
  assignments: [{ start: s("2025-01-01T00:00:00Z"), end: null, value: true }],
  rates: [{ start: s("2025-01-01T00:00:00Z"), end: null, value: null }],
  statuses: [{ start: s("2025-01-01T00:00:00Z"), end: null, value: "active" }],
  ...extra,
});
const after = s("2026-01-01T00:00:00Z");

describe("proration", () => {
  test("a full month at rate R yields exactly R, whatever the month's length", () => {
    for (const month of ["2025-02", "2025-06", "2025-07"]) {
      const [line] = agentRevenue(org("99.00"), agent(), [month], after);
      expect(round(line!.revenue, 12)).toBe("99.000000000000");
      expect(line!.isPartial).toBe(false);
    }
  });

  test("a part of a month is billed by the second", () => {
    const a = agent({ assignments: [{ start: JUNE + 86_400 * 9 + 1, end: null, value: true }] });
    const [line] = agentRevenue(org("30.00"), a, ["2025-06"], after);
    // 30 × (21 days − 1 s) / 30 days
    expect(line!.billedSeconds).toBe(86_400 * 21 - 1);
    expect(line!.revenue.n * 86_400n * 30n).toBe(30n * (86_400n * 21n - 1n) * line!.revenue.d);
  });

  test("the current month counts to now and projects the month if nothing changes", () => {
    const now = JUNE + 86_400 * 6; // six days in
    const [line] = agentRevenue(org("30.00"), agent(), ["2025-06"], now);
    expect(line!.isPartial).toBe(true);
    expect(round(line!.revenue, 2)).toBe("6.00");
    expect(round(line!.projected, 2)).toBe("30.00");
  });

  test("an organization inactive or an agent archived for part of the month is not billed then", () => {
    const o = org("30.00", {
      active: [
        { start: s("2025-01-01T00:00:00Z"), end: JUNE + 86_400 * 4, value: true },
        { start: JUNE + 86_400 * 4, end: JUNE + 86_400 * 9, value: false },
        { start: JUNE + 86_400 * 9, end: null, value: true },
      ],
    });
    const a = agent({
      statuses: [
        { start: s("2025-01-01T00:00:00Z"), end: JUNE + 86_400 * 20, value: "active" },
        { start: JUNE + 86_400 * 20, end: null, value: "archived" },
      ],
    });
    const [line] = agentRevenue(o, a, ["2025-06"], after);
    expect(round(line!.revenue, 2)).toBe("15.00"); // 4 + 11 days
  });

  test("a change made in the second of the read already shows: the line's rate is the one in effect now", () => {
    const now = JUNE + 86_400 * 6;
    // An organization created and an agent assigned to it in the very second of the read.
    const fresh = org("99.00", { active: [{ start: now, end: null, value: true }], rates: [{ start: now, end: null, value: "99.00" }] });
    const [assigned] = agentRevenue(fresh, agent({ assignments: [{ start: now, end: null, value: true }] }), ["2025-06"], now);
    expect({ rate: assigned!.rate, source: assigned!.rateSource, revenue: round(assigned!.revenue, 2) }).toEqual({ rate: "99.00", source: "default", revenue: "0.00" });
    expect(round(assigned!.projected, 2)).toBe("79.20"); // 99 × 24 / 30 days, nothing billed yet
    // A custom rate set in the second of the read.
    const custom = agent({ rates: [{ start: s("2025-01-01T00:00:00Z"), end: now, value: null }, { start: now, end: null, value: "120.00" }] });
    const [changed] = agentRevenue(org("30.00"), custom, ["2025-06"], now);
    expect({ rate: changed!.rate, source: changed!.rateSource, revenue: round(changed!.revenue, 2) }).toEqual({ rate: "120.00", source: "custom", revenue: "6.00" });
  });

  test("at the first second of a month the month already has its line", () => {
    const [line] = agentRevenue(org("30.00"), agent(), ["2025-06"], JUNE);
    expect({ rate: line?.rate, revenue: line && round(line.revenue, 2), projected: line && round(line.projected, 2) }).toEqual({ rate: "30.00", revenue: "0.00", projected: "30.00" });
  });

  test("a month the agent was never assigned in has no line", () => {
    const a = agent({ assignments: [{ start: s("2025-01-01T00:00:00Z"), end: JUNE, value: true }] });
    expect(agentRevenue(org("30.00"), a, ["2025-06"], after)).toEqual([]);
    expect(agentRevenue(org("30.00"), a, ["2025-05"], after)).toHaveLength(1);
    expect(JULY).toBeGreaterThan(JUNE);
  });
});

describe("lines and rounding", () => {
  const line = (revenueExact: string, costUsd: string, fx: string | null = "1") =>
    buildLine({
      month: "2025-06",
      agentId: "a",
      agentName: "A",
      revenue: { month: "2025-06", revenue: dec(revenueExact), projected: dec(revenueExact), billedSeconds: 1, rate: "99", rateSource: "default", isPartial: false },
      usage: { events: 1, unpriced: 0, inputTokens: 1, outputTokens: 2, cacheReadTokens: 3, cacheWriteTokens: 4, costUsd },
      fx,
      isPartial: false,
      fallbackRate: "0",
      usageCharge: "0.00",
    });

  test("the reference example: 99.00 revenue and 3.00 cost → 96.00 margin, 97.0 %", () => {
    expect(line("99", "3")).toMatchObject({ revenue: "99.00", token_cost: "3.00", token_cost_usd: "3.0000", margin: "96.00", margin_pct: "97.0", cache_tokens: 7 });
  });

  test("each line is rounded once, half to even", () => {
    expect(line("0.125", "0").revenue).toBe("0.12");
    expect(line("0.135", "0").revenue).toBe("0.14");
    expect(line("1", "0.00005").token_cost_usd).toBe("0.0000");
    expect(line("1", "0.00015").token_cost_usd).toBe("0.0002");
  });

  test("margin % is null when revenue is 0", () => {
    expect(marginPct(dec("-1"), dec("0"))).toBeNull();
    expect(line("0", "0.4")).toMatchObject({ revenue: "0.00", margin: "-0.40", margin_pct: null });
  });

  test("a missing FX rate leaves cost in the org currency and margin unknown, unless there is no cost", () => {
    expect(costInCurrency(dec("0"), null)).toBe("0.00");
    expect(line("10", "1", null)).toMatchObject({ token_cost: null, margin: null, margin_pct: null, token_cost_usd: "1.0000" });
  });

  test("a summary is the sum of rounded lines", () => {
    const lines = [line("0.125", "0"), line("0.125", "0"), line("0.125", "0")];
    expect(sumLines(lines, 3, "1", false).total_revenue).toBe("0.36");
  });

  test("the month's FX rate is the latest effective before the month's end; USD is 1", () => {
    const rates = [
      { effectiveFrom: "2024-01-01", rate: "0.860000000000" },
      { effectiveFrom: "2025-07-01", rate: "0.95" },
    ];
    expect(fxForMonth("EUR", "2025-07-01", rates)).toBe("0.86");
    expect(fxForMonth("EUR", "2025-08-01", rates)).toBe("0.95");
    expect(fxForMonth("EUR", "2023-12-01", rates)).toBeNull();
    expect(fxForMonth("USD", "2023-12-01", [])).toBe("1");
  });
});

describe("decimal inputs and CSV", () => {
  test("decimals are read exactly, exponents included; negatives and excess places are refused", () => {
    expect(parseDecimalInput(1e-7, 12)).toEqual({ ok: true, value: "0.0000001" });
    expect(parseDecimalInput("2.50", 12)).toEqual({ ok: true, value: "2.5" });
    expect(parseDecimalInput("1.5e3", 12)).toEqual({ ok: true, value: "1500" });
    expect(parseDecimalInput(0.1, 12)).toEqual({ ok: true, value: "0.1" });
    expect(parseDecimalInput("-1", 12).ok).toBe(false);
    expect(parseDecimalInput("0.0000000000001", 12).ok).toBe(false);
    expect(parseDecimalInput("abc", 12).ok).toBe(false);
    expect(parseDecimalInput(Number.NaN, 12).ok).toBe(false);
  });

  test("CSV fields are quoted when needed and formulas are defused", () => {
    expect(csvField('Agent "A", north')).toBe('"Agent ""A"", north"');
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField("-0.40")).toBe("-0.40");
    expect(csvField(null)).toBe("");
    expect(toCsv(["a", "b"], [{ a: 1, b: null }])).toBe("a,b\r\n1,\r\n");
  });
});
