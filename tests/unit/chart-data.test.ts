import { describe, expect, test } from "bun:test";
import { revenueCostPoints, valueDomain } from "../../web/src/lib/charts/revenue-cost";

describe("revenue vs cost chart data", () => {
  const months = [
    { month: "2026-02", total_revenue: "198.00", total_cost: "12.5000", margin: "185.50", is_partial: true },
    { month: "2025-12", total_revenue: "0.00", total_cost: "3.25", margin: "-3.25" },
    { month: "2026-01", total_revenue: "99.00", total_cost: "3.00", margin: "96.00" },
  ];

  test("puts months in calendar order with one point per month", () => {
    const points = revenueCostPoints(months);
    expect(points.map((p) => p.month)).toEqual(["2025-12", "2026-01", "2026-02"]);
  });

  test("keeps the server's decimal strings for display beside the floats used for drawing", () => {
    const [, jan] = revenueCostPoints(months);
    expect(jan).toMatchObject({ revenue: "99.00", cost: "3.00", margin: "96.00", revenueFloat: 99, costFloat: 3, marginFloat: 96 });
  });

  test("marks the partial current month and labels January with its year", () => {
    const points = revenueCostPoints(months);
    expect(points.map((p) => p.partial)).toEqual([false, false, true]);
    expect(points[1]!.label).toBe("Jan ’26");
    expect(points[0]!.label).toBe("Dec");
  });

  test("a viewer without cost data gets zero cost and no margin", () => {
    const [p] = revenueCostPoints([{ month: "2026-01", total_revenue: "10.00" }]);
    expect(p).toMatchObject({ costFloat: 0, marginFloat: 0, cost: null, margin: null });
  });

  test("the value axis reaches down to the worst loss and up to the largest bar", () => {
    expect(valueDomain(revenueCostPoints(months), true)).toEqual([-3.25, 198]);
    expect(valueDomain(revenueCostPoints(months), false)).toEqual([0, 198]);
    expect(valueDomain([], true)).toEqual([0, 1]);
  });
});

import { overviewMonths, rankByMargin } from "../../web/src/lib/charts/dashboard";
import { billingWarnings } from "../../web/src/lib/billing-warnings";

describe("dashboard data", () => {
  test("the overview's USD totals become the chart's months", () => {
    const months = overviewMonths([
      { month: "2026-01", is_partial: false, totals: { revenue_usd: "300.00", cost_usd: "12.3456", margin_usd: "287.65" } },
      { month: "2026-02", is_partial: true, totals: {} },
    ]);
    expect(months).toEqual([
      { month: "2026-01", is_partial: false, total_revenue: "300.00", total_cost: "12.3456", margin: "287.65" },
      { month: "2026-02", is_partial: true, total_revenue: "0", total_cost: null, margin: null },
    ]);
  });

  test("organizations rank by USD margin, loss-makers flagged, idle ones left out, missing FX last", () => {
    const ranked = rankByMargin([
      { id: "a", name: "Alpha", total_revenue: "100.00", total_cost_usd: "1.0000", margin_usd: "99.00" },
      { id: "b", name: "Beta", total_revenue: "0.00", total_cost_usd: "5.5000", margin_usd: "-5.50" },
      { id: "c", name: "Gamma", total_revenue: "50.00", total_cost_usd: "1.0000", margin_usd: null },
      { id: "d", name: "Delta", total_revenue: "0.00", total_cost_usd: "0.0000", margin_usd: "0.00" },
      { id: "e", name: "Epsilon", total_revenue: "500.00", total_cost_usd: "0.0000", margin_usd: "500.00" },
    ]);
    expect(ranked.map((o) => o.id)).toEqual(["e", "a", "b", "c"]);
    expect(ranked.map((o) => o.losing)).toEqual([false, false, true, false]);
  });
});

describe("billing warnings", () => {
  test("unpriced events and months without an FX rate are named", () => {
    const w = billingWarnings([
      { month: "2026-01", unpriced_events: 2, fx_rate: "0.92", total_cost_usd: "1.0000" },
      { month: "2026-02", unpriced_events: 1, fx_rate: null, total_cost_usd: "3.0000" },
    ]);
    expect(w).toHaveLength(2);
    expect(w[0]).toStartWith("3 usage events have no model price");
    expect(w[1]).toContain("No FX rate for Feb 2026");
  });

  test("a caller who does not see costs gets no warnings", () => {
    expect(billingWarnings([{ month: "2026-01" }])).toEqual([]);
  });
});
