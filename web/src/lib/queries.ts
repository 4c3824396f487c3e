import { infiniteQueryOptions, QueryClient, queryOptions } from "@tanstack/svelte-query";
import { api, problemOf } from "./api";
import type { Inputs } from "./types";

/**
 * The app's server data lives in one TanStack Query cache (docs/web.md, "Loading data"). The app is
 * a client-only single-page app (no SSR), so one client for the whole app is safe; the root layout
 * provides it to `createQuery`.
 *
 * - Data stays fresh for 30 s; after that, showing it again (or focusing the window) refetches it
 *   in the background while the cached copy stays on screen.
 * - A failed load is retried twice when the server could not answer (network, 5xx), never when it
 *   answered no (4xx): a 404 or 403 will not change by asking again.
 */
export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      retry: (failures, err) => {
        const status = problemOf(err).status;
        return failures < 2 && (status === 0 || status >= 500);
      },
    },
  },
});

/**
 * The domains of the cache. Every query key starts with one of them, so a change refreshes
 * whole domains (`refresh("orgs")`) without knowing which screens show them.
 */
export type Domain = "orgs" | "agents" | "billing" | "invoices" | "insights" | "prices" | "users" | "keys" | "audit" | "budgets" | "webhooks" | "integrations";

/** What a change to a domain makes stale, beyond the domain itself. */
const AFFECTS: Record<Domain, Domain[]> = {
  // An organization's status and rate change its agents' effective status and rate, and billing.
  orgs: ["orgs", "agents", "billing", "invoices", "insights", "audit"],
  // Agents change organizations' agent counts and billing.
  agents: ["agents", "orgs", "billing", "invoices", "insights", "audit", "budgets"],
  // Prices and FX rates change token costs.
  prices: ["prices", "billing", "invoices", "insights", "audit"],
  // Finalizing or voiding closes or reopens a month.
  invoices: ["invoices", "billing", "audit"],
  users: ["users", "audit"],
  keys: ["keys", "audit"],
  billing: ["billing", "insights"],
  // Insights are computed from billing and prices; nothing else follows from them.
  insights: ["insights"],
  audit: ["audit"],
  // Budgets suspend and resume agents, and write alerts.
  budgets: ["budgets", "agents", "orgs", "audit"],
  // Endpoint changes are audited.
  webhooks: ["webhooks", "audit"],
  // Attributed spans and imported usage are billed usage: costs, budgets, invoices move.
  integrations: ["integrations", "billing", "invoices", "insights", "budgets", "audit"],
};

/**
 * After a change: refetches the shown queries of the changed domain and of those it affects, and
 * marks the others stale (they refetch when next shown). Resolves once the shown ones are back.
 */
export async function refresh(...changed: Domain[]): Promise<void> {
  const domains = new Set(changed.flatMap((d) => AFFECTS[d]));
  await Promise.all([...domains].map((domain) => queryClient.invalidateQueries({ queryKey: [domain] })));
}

type Paged = { next_cursor: string | null };

/** A cursor-paged list: `fetchNextPage()` appends the page after the last one loaded. */
function paged<I, P extends Paged>(key: readonly unknown[], fetchPage: (input: I & { cursor?: string }) => Promise<P>, input: I) {
  return infiniteQueryOptions({
    queryKey: [...key, input],
    queryFn: ({ pageParam }) => fetchPage({ ...input, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: P) => last.next_cursor ?? undefined,
  });
}

type ListInput<T> = Omit<NonNullable<T>, "cursor">;

/**
 * What the screens load: one entry per server procedure, each returning the options for
 * `createQuery` / `createInfiniteQuery` (its key, and how to fetch it).
 */
export const queries = {
  orgs: {
    /** The organizations grid: searchable, filtered, paged. */
    list: (input: ListInput<Inputs["orgs"]["list"]>) => paged(["orgs", "list"], (i) => api.orgs.list.query(i), input),
    /** Every organization (up to 500), for pickers and names. */
    all: () => queryOptions({ queryKey: ["orgs", "all"], queryFn: () => api.orgs.list.query({ limit: 500 }) }),
    /** One organization with its agents (id or slug). */
    get: (id: string) => queryOptions({ queryKey: ["orgs", "get", id], queryFn: () => api.orgs.get.query({ id }) }),
  },
  agents: {
    list: (input: ListInput<Inputs["agents"]["list"]>) => paged(["agents", "list"], (i) => api.agents.list.query(i), input),
    /** Agents that may be moved into an organization, labelled with where they are. */
    /** Up to 500 agents, active first by name, for pickers. */
    all: () => queryOptions({ queryKey: ["agents", "all"], queryFn: () => api.agents.list.query({ limit: 500 }) }),
    assignable: (orgId: string) => queryOptions({ queryKey: ["agents", "assignable", orgId], queryFn: () => api.agents.assignable.query({ org_id: orgId }) }),
  },
  billing: {
    /** Twelve months of the overview, for the dashboard. */
    dashboard: () => queryOptions({ queryKey: ["billing", "dashboard"], queryFn: () => api.billing.dashboard.query({}) }),
    /** One month of every organization (default: the current one). */
    overview: (input: Inputs["billing"]["overview"] = {}) =>
      queryOptions({ queryKey: ["billing", "overview", input], queryFn: () => api.billing.overview.query(input, { context: { unbatched: true } }) }),
    /** An organization's months and totals over a range. */
    summary: (input: Inputs["billing"]["summary"]) => queryOptions({ queryKey: ["billing", "summary", input], queryFn: () => api.billing.summary.query(input) }),
    /** An organization's Billing tab: months, totals and per-agent lines of a range. */
    orgView: (input: Inputs["billing"]["orgView"]) => queryOptions({ queryKey: ["billing", "orgView", input], queryFn: () => api.billing.orgView.query(input) }),
  },
  invoices: {
    /** Finalized and void invoices across organizations, filtered, newest number first. */
    list: (input: ListInput<Inputs["invoices"]["list"]>) => paged(["invoices", "list"], (i) => api.invoices.list.query(i), input),
    /** An organization's months: finalized invoices, live drafts, void invoices. */
    orgList: (id: string) => queryOptions({ queryKey: ["invoices", "orgList", id], queryFn: () => api.invoices.orgList.query({ id }) }),
    /** The platform's invoicing settings: agency details, number prefix, payment terms, automatic close. */
    settings: () => queryOptions({ queryKey: ["invoices", "settings"], queryFn: () => api.invoices.settings.query() }),
    /** Whether and with what markup an organization's token usage is billed. */
    orgSettings: (id: string) => queryOptions({ queryKey: ["invoices", "orgSettings", id], queryFn: () => api.invoices.orgSettings.query({ id }) }),
  },
  insights: {
    /** Each agent's break-even allowance for a month (default: the current one). */
    allowances: (input: Inputs["insights"]["allowances"]) => queryOptions({ queryKey: ["insights", "allowances", input], queryFn: () => api.insights.allowances.query(input) }),
    /** A past month under another model and/or rate, beside the actual figures. */
    whatIf: (input: Inputs["insights"]["whatIf"]) => queryOptions({ queryKey: ["insights", "whatIf", input], queryFn: () => api.insights.whatIf.query(input) }),
  },
  webhooks: {
    list: () => queryOptions({ queryKey: ["webhooks", "list"], queryFn: () => api.webhooks.list.query() }),
    get: (id: string) => queryOptions({ queryKey: ["webhooks", "get", id], queryFn: () => api.webhooks.get.query({ id }) }),
    /** An endpoint's delivery log, newest first, paged. */
    deliveries: (input: ListInput<Inputs["webhooks"]["deliveries"]>) => paged(["webhooks", "deliveries"], (i) => api.webhooks.deliveries.query(i), input),
  },
  audit: {
    list: (input: ListInput<Inputs["audit"]["list"]>) => paged(["audit", "list"], (i) => api.audit.list.query(i), input),
  },
  prices: {
    list: () => queryOptions({ queryKey: ["prices", "list"], queryFn: () => api.prices.list.query() }),
    fx: () => queryOptions({ queryKey: ["prices", "fx"], queryFn: () => api.prices.fxList.query() }),
  },
  users: {
    list: () => queryOptions({ queryKey: ["users", "list"], queryFn: () => api.users.list.query() }),
  },
  keys: {
    list: () => queryOptions({ queryKey: ["keys", "list"], queryFn: () => api.keys.list.query() }),
  },
  integrations: {
    /** This server's address, each source's last event and 24-hour counts, unattributed spans (refetched every 30 s while shown). */
    overview: () => queryOptions({ queryKey: ["integrations", "overview"], queryFn: () => api.integrations.overview.query(), refetchInterval: 30_000 }),
  },
  budgets: {
    /** An organization's budget and its current agents' budgets, with this month's figures. */
    ofOrg: (orgId: string) => queryOptions({ queryKey: ["budgets", "list", orgId], queryFn: () => api.budgets.list.query({ org: orgId }) }),
    /** One agent's budget, with this month's figures. */
    ofAgent: (agentId: string) => queryOptions({ queryKey: ["budgets", "list", "agent", agentId], queryFn: () => api.budgets.list.query({ agent: agentId }) }),
    /** Alerts, newest first, with the unread count (the header badge refetches every minute). */
    alerts: (input: ListInput<Inputs["alerts"]["list"]>) => paged(["budgets", "alerts"], (i) => api.alerts.list.query(i), input),
    unread: () => queryOptions({ queryKey: ["budgets", "unread"], queryFn: () => api.alerts.list.query({ unread: true, limit: 1 }), refetchInterval: 60_000 }),
  },
};
