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
