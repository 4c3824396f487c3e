import type { MonthTotals } from "./revenue-cost";

/** The platform-wide figures of one month, as the billing overview sends them (USD). */
export interface OverviewTotals {
  month: string;
  is_partial: boolean;
  totals: { revenue_usd?: string; cost_usd?: string; margin_usd?: string };
}

/** Months of the overview as chart input, in USD. */
export function overviewMonths(overviews: readonly OverviewTotals[]): MonthTotals[] {
  return overviews.map((o) => ({
    month: o.month,
    is_partial: o.is_partial,
    total_revenue: o.totals.revenue_usd ?? "0",
    total_cost: o.totals.cost_usd ?? null,
    margin: o.totals.margin_usd ?? null,
  }));
}

export interface RankableOrg {
  id: string;
  name: string;
  margin_usd?: string | null;
  total_revenue: string;
  total_cost_usd?: string;
}

/**
 * Organizations by margin in USD, best first; those without a USD margin (no FX rate) last. An
 * organization is flagged as losing money when its margin is below zero. Organizations with
 * neither revenue nor cost in the month are left out.
 */
export function rankByMargin<T extends RankableOrg>(orgs: readonly T[]): (T & { losing: boolean })[] {
  const active = orgs.filter((o) => /[1-9]/.test(o.total_revenue) || /[1-9]/.test(o.total_cost_usd ?? "0"));
  const key = (o: T) => (o.margin_usd === null || o.margin_usd === undefined ? Number.NEGATIVE_INFINITY : Number(o.margin_usd));
  return [...active]
    .sort((a, b) => key(b) - key(a) || a.name.localeCompare(b.name))
    .map((o) => ({ ...o, losing: o.margin_usd != null && o.margin_usd.trim().startsWith("-") && /[1-9]/.test(o.margin_usd) }));
}
