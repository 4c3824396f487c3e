import { formatMonth } from "../format";

/** What a month of billing needs to be drawn: decimal strings as the server sends them. */
export interface MonthTotals {
  month: string;
  total_revenue: string;
  total_cost?: string | null;
  margin?: string | null;
  is_partial?: boolean;
}

/**
 * One bar group of the revenue-vs-cost chart. The `…Float` fields are binary floats for drawing
 * only; every figure a person reads comes from the decimal strings, formatted with Intl.
 */
export interface RevenueCostPoint {
  month: string;
  label: string;
  revenueFloat: number;
  costFloat: number;
  marginFloat: number;
  partial: boolean;
  revenue: string;
  cost: string | null;
  margin: string | null;
}

const toFloat = (s: string | null | undefined) => (s === null || s === undefined || s === "" ? 0 : Number(s));

/** Chart points in month order, one per month given (months without activity are zero, not gaps). */
export function revenueCostPoints(months: readonly MonthTotals[]): RevenueCostPoint[] {
  return [...months]
    .sort((a, b) => a.month.localeCompare(b.month))
    .map((m) => ({
      month: m.month,
      label: formatMonth(m.month, "short"),
      revenueFloat: toFloat(m.total_revenue),
      costFloat: toFloat(m.total_cost),
      marginFloat: toFloat(m.margin),
      partial: m.is_partial ?? false,
      revenue: m.total_revenue,
      cost: m.total_cost ?? null,
      margin: m.margin ?? null,
    }));
}

/** The y-axis domain: from the lowest margin (or 0) to the largest bar, so losses stay visible. */
export function valueDomain(points: readonly RevenueCostPoint[], withCost: boolean): [number, number] {
  let min = 0;
  let max = 0;
  for (const p of points) {
    max = Math.max(max, p.revenueFloat, withCost ? p.costFloat : 0);
    if (withCost) min = Math.min(min, p.marginFloat);
  }
  if (max === 0 && min === 0) max = 1;
  return [min, max];
}
