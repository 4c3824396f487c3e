import { AppError } from "../errors";
import type { Principal, Role } from "./principal";

/**
 * The one place where permissions are decided (SPEC §4). Services call `authorize` for the
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
  "usage.ingest",
  "usage.reprice",
  "prices.read",
  "prices.write",
  "users.manage",
  "keys.manage",
  "audit.read",
  "webhooks.manage",
] as const;
export type Action = (typeof ACTIONS)[number];

const READ: Action[] = ["org.read", "agent.read", "billing.read", "prices.read", "audit.read"];
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
  "usage.ingest",
  "usage.reprice",
  "keys.manage",
  "webhooks.manage",
];

const ROLE_ACTIONS: Record<Role, ReadonlySet<Action>> = {
  owner: new Set<Action>([...ADMIN, "prices.write", "users.manage"]),
  admin: new Set<Action>(ADMIN),
  member: new Set<Action>([...READ, "agent.create", "agent.assign"]),
  viewer: new Set<Action>(READ),
};

/** What an organization-bound principal may never do, whatever its role or permission. */
const PLATFORM_ONLY = new Set<Action>([
  "org.create",
  "org.delete",
  "org.toggle",
  "agent.assign",
  "usage.reprice",
  // Model prices are token costs, which an organization-bound caller never sees.
  "prices.read",
  "prices.write",
  "users.manage",
  "keys.manage",
  // Webhook endpoints receive every organization's events.
  "webhooks.manage",
]);

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
    // A write key acts as an admin, but keys never manage other keys. ADMIN_API_KEY (no key id) is
    // also for automation and first setup, which includes loading model prices and FX rates.
    allowed = (ROLE_ACTIONS.admin.has(action) && action !== "keys.manage") || (principal.keyId === null && action === "prices.write");
  }
  if (allowed && principal.orgId !== null && PLATFORM_ONLY.has(action)) allowed = false;
  return allowed;
}

/** Throws UNAUTHORIZED for anonymous callers and FORBIDDEN for callers without the permission. */
export function authorize(principal: Principal, action: Action): void {
  if (principal.kind === "anonymous") throw new AppError("UNAUTHORIZED", "Credentials are required");
  if (!can(principal, action)) throw new AppError("FORBIDDEN", `Your access does not allow ${action}`);
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
