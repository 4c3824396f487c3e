import { goto } from "$app/navigation";
import { page } from "$app/state";
import { problemOf } from "./api";
import { queryClient } from "./queries";
import type { Outputs } from "./types";

export type Me = Outputs["auth"]["me"];
export type Role = "owner" | "admin" | "member" | "viewer";

export interface OrgContext {
  id: string;
  slug: string;
  name: string;
}

const CONTEXT_KEY = "orgdesk.orgContext";

/**
 * Who is signed in and what they may do — the server's own answer (`auth.me`: its permissions and
 * whether it sees costs), used only to hide controls the server would refuse anyway — and the
 * organization in context: the bound one for bound users, the switcher's choice otherwise.
 */
class Session {
  me = $state.raw<Me | null>(null);
  ready = $state(false);
  context = $state<OrgContext | null>(null);

  readonly user = $derived(this.me?.user ?? null);
  readonly permissions = $derived(new Set<string>(this.me?.permissions ?? []));
  readonly bound = $derived(this.me?.org != null);
  /** Token cost and margin are for platform staff only (docs/security.md). */
  readonly seesCosts = $derived(this.me?.sees_costs ?? false);

  can(action: string) {
    return this.permissions.has(action);
  }
  get canManageOrgs() {
    return this.can("org.create");
  }
  get canEditOrgs() {
    return this.can("org.update");
  }
  get canToggleOrgs() {
    return this.can("org.toggle");
  }
  get canDeleteOrgs() {
    return this.can("org.delete");
  }
  /** Custom rates (edited in place on an organization's Agents tab). */
  get canEditAgents() {
    return this.can("agent.rate");
  }
  /** Name, email, description and status (the Agents page's edit dialog). */
  get canUpdateAgents() {
    return this.can("agent.update");
  }
  get canCreateAgents() {
    return this.can("agent.create");
  }
  get canAssign() {
    return this.can("agent.assign");
  }
  /** Finalize and void invoices (platform staff: owner, admin). */
  get canManageInvoices() {
    return this.can("invoices.manage");
  }
  get canExport() {
    return this.can("billing.export");
  }
  /** Budgets and alerts: platform-wide staff only (docs/guardrails.md). */
  get canReadBudgets() {
    return this.can("budgets.read");
  }
  get canManageBudgets() {
    return this.can("budgets.manage");
  }
  get canAckAlerts() {
    return this.can("alerts.ack");
  }

  setContext(org: OrgContext | null) {
    if (this.bound) return;
    this.context = org;
    try {
      if (org) localStorage.setItem(CONTEXT_KEY, JSON.stringify(org));
      else localStorage.removeItem(CONTEXT_KEY);
    } catch {}
  }

  signedIn(me: Me) {
    // The cache holds what the previous principal was allowed to see: never show it to another.
    // With no one signed in before (the page just loaded; signing out clears the cache), what it
    // holds was loaded with this very session, by a page drawn before it was known
    // (docs/web.md, "First visit"): clearing it would strand that page's loads.
    if (this.me && principalOf(this.me) !== principalOf(me)) queryClient.clear();
    this.me = me;
    this.ready = true;
    if (me.org) {
      this.context = { id: me.org.id, slug: me.org.slug, name: me.org.name };
    } else {
      try {
        const raw = localStorage.getItem(CONTEXT_KEY);
        this.context = raw ? (JSON.parse(raw) as OrgContext) : null;
      } catch {
        this.context = null;
      }
    }
  }

  signedOut() {
    queryClient.clear();
    this.me = null;
    this.ready = false;
    this.context = null;
  }

  /** The session ended or was revoked: to the sign-in page, then back here. */
  expired() {
    const here = page.url.pathname + page.url.search;
    this.signedOut();
    if (!page.url.pathname.startsWith("/login") && !page.url.pathname.startsWith("/setup")) {
      void goto(`/login?next=${encodeURIComponent(here)}`, { replaceState: true });
    }
  }
}

const principalOf = (me: Me | null) => (me ? (me.user?.id ?? `key:${me.key?.prefix}`) : null);

export const session = new Session();

// A load refused with 401 means the session ended (expired, revoked, signed out elsewhere).
queryClient.getQueryCache().subscribe((event) => {
  if (event.type === "updated" && event.action.type === "error" && problemOf(event.action.error).status === 401 && session.me) session.expired();
});
