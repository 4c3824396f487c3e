import type { Outputs } from "$lib/types";

/** One organization's month to date, from the billing overview (shown on its card). */
export interface OrgMonth {
  revenue: string;
  margin: string | null | undefined;
  margin_pct: string | null | undefined;
}

/** Month-to-date revenue (and, for platform staff, margin) of every organization, by id. */
export function monthToDate(overview: Outputs["billing"]["overview"] | undefined): Map<string, OrgMonth> {
  return new Map((overview?.organizations ?? []).map((o) => [o.id, { revenue: o.total_revenue, margin: o.margin, margin_pct: o.margin_pct }]));
}
