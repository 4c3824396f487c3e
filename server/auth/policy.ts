import { AppError } from "../errors";
import type { KeyPermission, Principal, Role } from "./principal";

/**
 * The one place where permissions are decided (docs/security.md). Services call `authorize` for the
 * operation and `tenantOrgId` to filter every query by the caller's organization.
 */
export const ACTIONS = [
  "org.read",
  "org.create",
  "org.update",
  "org.delete",
  "org.toggle",
  "agent.read",
  "agent.create",
  "agent.update",
  "agent.rate",
  "agent.assign",
  "billing.read",
  "billing.export",
  "invoices.manage",
  "insights.read",
  "usage.ingest",
  "usage.reprice",
  "usage.attribute",
  "integrations.read",
  "prices.read",
  "prices.write",
  "users.manage",
  "keys.manage",
  "audit.read",
  "webhooks.manage",
  "budgets.read",
  "budgets.manage",
  "alerts.ack",
] as const;
export type Action = (typeof ACTIONS)[number];

/** Each action in words, for refusals: a 403 says what is missing, never an action identifier. */
const ACTION_WORDS: Record<Action, string> = {
  "org.read": "reading organizations",
  "org.create": "creating organizations",
  "org.update": "changing organizations",
  "org.delete": "deleting organizations",
  "org.toggle": "activating and deactivating organizations",
  "agent.read": "reading agents",
  "agent.create": "creating agents",
  "agent.update": "changing agents",
  "agent.rate": "setting agents' rates",
  "agent.assign": "moving agents between organizations",
  "billing.read": "reading billing",
  "billing.export": "exporting billing",
  "invoices.manage": "finalizing and voiding invoices and changing invoicing settings",
  "insights.read": "reading insights (break-even allowances and what-if scenarios)",
  "usage.ingest": "reporting usage",
  "usage.reprice": "re-pricing usage",
  "usage.attribute": "attributing unattributed OpenTelemetry spans",
  "integrations.read": "reading the integrations overview",
  "prices.read": "reading model prices and FX rates",
  "prices.write": "changing model prices and FX rates",
  "users.manage": "managing users",
  "keys.manage": "managing API keys",
  "audit.read": "reading the audit log",
  "webhooks.manage": "managing webhooks",
  "budgets.read": "reading budgets and alerts",
  "budgets.manage": "managing budgets",
  "alerts.ack": "marking alerts read",
};

const READ: Action[] = ["org.read", "agent.read", "billing.read", "insights.read", "prices.read", "audit.read", "budgets.read", "integrations.read"];
const ADMIN: Action[] = [
  ...READ,
  "org.create",
  "org.update",
  "org.delete",
  "org.toggle",
  "agent.create",
  "agent.update",
  "agent.rate",
  "agent.assign",
  "billing.export",
  "invoices.manage",
  "usage.ingest",
  "usage.reprice",
  "usage.attribute",
  "keys.manage",
  "webhooks.manage",
  "budgets.manage",
  "alerts.ack",
];

const ROLE_ACTIONS: Record<Role, ReadonlySet<Action>> = {
  owner: new Set<Action>([...ADMIN, "prices.write", "users.manage"]),
  admin: new Set<Action>(ADMIN),
  member: new Set<Action>([...READ, "agent.create", "agent.assign", "alerts.ack"]),
  viewer: new Set<Action>(READ),
};

/** What an organization-bound principal may never do, whatever its role or permission. */
const PLATFORM_ONLY = new Set<Action>([
  "org.create",
  "org.delete",
  "org.toggle",
  "agent.assign",
  "usage.reprice",
  // Ingestion statistics and unattributed spans are every organization's traffic.
  "usage.attribute",
  "integrations.read",
  // Closing a month and the agency's invoicing settings are the platform's, not a client's.
  "invoices.manage",
  // Model prices are token costs, which an organization-bound caller never sees.
  "prices.read",
  "prices.write",
  // Break-even allowances and what-if scenarios are token costs and margins.
  "insights.read",
  "users.manage",
  "keys.manage",
  // Webhook endpoints receive every organization's events.
  "webhooks.manage",
  // Budgets and alerts are token cost and margin (docs/guardrails.md, "Who sees budgets").
  "budgets.read",
  "budgets.manage",
  "alerts.ack",
]);

/** What an admin may do that a write key may not. */
const USERS_ONLY = new Set<Action>(["keys.manage", "webhooks.manage"]);
/** What ADMIN_API_KEY may do beyond a write key. */
const ENV_KEY_EXTRA = new Set<Action>(["prices.write", "webhooks.manage"]);

export function can(principal: Principal, action: Action): boolean {
  if (principal.kind === "anonymous") return false;
  let allowed: boolean;
  if (principal.kind === "user") {
    allowed = ROLE_ACTIONS[principal.role].has(action);
  } else if (principal.permission === "usage") {
    allowed = action === "usage.ingest";
  } else if (principal.permission === "read") {
    allowed = ROLE_ACTIONS.viewer.has(action);
  } else {
    // A write key acts as an admin, but keys never manage other keys, nor webhooks (an endpoint
    // receives every organization's events: a leaked key must not be able to subscribe to them).
    // ADMIN_API_KEY (no key id) is also for automation and first setup, which includes loading
    // model prices and FX rates and configuring webhooks.
    allowed =
      (ROLE_ACTIONS.admin.has(action) && !USERS_ONLY.has(action)) || (principal.keyId === null && ENV_KEY_EXTRA.has(action));
  }
  if (allowed && principal.orgId !== null && PLATFORM_ONLY.has(action)) allowed = false;
  return allowed;
}

const ROLES = Object.keys(ROLE_ACTIONS) as Role[];
const orList = (words: string[]) => (words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`);

/** What a platform-wide principal like `p` would need for `action`: "a write key", "the owner or admin role". */
function needed(p: Exclude<Principal, { kind: "anonymous" }>, action: Action): string {
  if (p.kind === "api_key") {
    const permission = (["read", "write"] as KeyPermission[]).find((permission) => can({ ...p, keyId: "any", permission, orgId: null }, action));
    if (permission) return `a ${permission} key`;
  }
  const roles = ROLES.filter((role) => can({ kind: "user", userId: "", email: "", sessionId: "", role, orgId: null }, action));
  return `the ${orList(roles)} role${p.kind === "api_key" ? " (signed in to the web app)" : ""}`;
}

/**
 * Why `principal` may not do `action`, in words, with what it would take: "This key is read-only;
 * creating organizations needs a write key."
 */
export function refusal(principal: Exclude<Principal, { kind: "anonymous" }>, action: Action): string {
  const doing = ACTION_WORDS[action];
  const who = principal.kind === "user" ? "Your account" : "This key";
  if (principal.orgId !== null && PLATFORM_ONLY.has(action)) {
    if (can({ ...principal, orgId: null }, action)) return `${who} is limited to one organization; ${doing} needs platform-wide access.`;
    return `${who} is limited to one organization; ${doing} needs platform-wide access and ${needed(principal, action)}.`;
  }
  if (principal.kind === "user") return `Your role (${principal.role}) does not allow ${doing}; that needs ${needed(principal, action)}.`;
  if (principal.permission === "read") return `This key is read-only; ${doing} needs ${needed(principal, action)}.`;
  if (principal.permission === "usage") return `This key may only report usage; ${doing} needs ${needed(principal, action)}.`;
  return `A write key does not allow ${doing}; that needs ${needed(principal, action)}.`;
}

/** Throws UNAUTHORIZED for anonymous callers and FORBIDDEN, saying what is missing, for callers without the permission. */
export function authorize(principal: Principal, action: Action): void {
  if (principal.kind === "anonymous") throw new AppError("UNAUTHORIZED", "Credentials are required");
  if (!can(principal, action)) throw new AppError("FORBIDDEN", refusal(principal, action));
}

/**
 * The organization the caller is confined to, or null when it sees the whole platform. Fails
 * closed: an anonymous caller has no tenant at all, so a query it reaches is refused, never unfiltered.
 */
export function tenantOrgId(principal: Principal): string | null {
  if (principal.kind === "anonymous") throw new AppError("UNAUTHORIZED", "Credentials are required");
  return principal.orgId;
}

/** Whether the caller may see token cost, margin and other organizations' names. */
export function seesCosts(principal: Principal): boolean {
  return principal.kind !== "anonymous" && principal.orgId === null;
}
