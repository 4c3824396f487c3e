import { goto } from "$app/navigation";
import { page } from "$app/state";

export type Role = "owner" | "admin" | "member" | "viewer";

export interface SessionUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  /** The organization the user is bound to, or null for platform staff. */
  org_id: string | null;
}

export interface OrgContext {
  id: string;
  slug: string;
  name: string;
}

const CONTEXT_KEY = "orgdesk.orgContext";

/**
 * Who is signed in, what they may do (a mirror of the server policy, used only to hide controls
 * the server would refuse anyway), and the organization context chosen in the switcher.
 */
class Session {
  user = $state<SessionUser | null>(null);
  ready = $state(false);
  /** The organization in context: the bound one for bound users, the switcher's choice otherwise. */
  context = $state<OrgContext | null>(null);

  get bound() {
    return this.user?.org_id != null;
  }
  /** Token cost and margin are for platform staff only (SPEC §4). */
  get seesCosts() {
    return this.user !== null && !this.bound;
  }
  get isAdmin() {
    return this.user?.role === "owner" || this.user?.role === "admin";
  }
  get isOwner() {
    return this.user?.role === "owner";
  }
  /** Create, edit, activate and delete organizations. */
  get canManageOrgs() {
    return this.isAdmin && !this.bound;
  }
  get canEditOrgs() {
    return this.isAdmin;
  }
  /** Change agents' custom rates and details. */
  get canEditAgents() {
    return this.isAdmin;
  }
  get canCreateAgents() {
    return this.user !== null && this.user.role !== "viewer";
  }
  /** Move agents between organizations. */
  get canAssign() {
    return this.user !== null && this.user.role !== "viewer" && !this.bound;
  }
  get canExport() {
    return this.isAdmin;
  }

  setContext(org: OrgContext | null) {
    if (this.bound) return;
    this.context = org;
    try {
      if (org) localStorage.setItem(CONTEXT_KEY, JSON.stringify(org));
      else localStorage.removeItem(CONTEXT_KEY);
    } catch {}
  }

  restoreContext() {
    try {
      const raw = localStorage.getItem(CONTEXT_KEY);
      this.context = raw ? (JSON.parse(raw) as OrgContext) : null;
    } catch {
      this.context = null;
    }
  }

  signedIn(user: SessionUser) {
    this.user = user;
    this.ready = true;
  }

  /** The session ended or was revoked: back to the sign-in page, then back here. */
  expired() {
    this.user = null;
    this.context = null;
    const here = page.url.pathname + page.url.search;
    if (!page.url.pathname.startsWith("/login") && !page.url.pathname.startsWith("/setup")) {
      void goto(`/login?next=${encodeURIComponent(here)}`, { replaceState: true });
    }
  }
}

export const session = new Session();
