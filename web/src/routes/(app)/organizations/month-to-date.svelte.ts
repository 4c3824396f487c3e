import { api } from "$lib/api";
import { resource } from "$lib/resource.svelte";

/** One organization's month to date, from the billing overview (shown on its card). */
export interface OrgMonth {
  revenue: string;
  margin: string | null | undefined;
  margin_pct: string | null | undefined;
}

/** Month-to-date revenue (and, for platform staff, margin) of every organization, by id. */
export function monthToDate() {
  return resource(async () => {
    const overview = await api.billing.overview.query({});
    return { byOrg: new Map<string, OrgMonth>(overview.organizations.map((o) => [o.id, { revenue: o.total_revenue, margin: o.margin, margin_pct: o.margin_pct }])) };
  });
}
