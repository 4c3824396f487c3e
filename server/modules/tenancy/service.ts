import { and, eq, isNull, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../../../db/client";
import { agents, organizations } from "../../../db/schema";
import { tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { notFound } from "../../errors";
import { isUuid } from "../../shared/uuid";
import { SLUG_MAX, SLUG_PATTERN } from "../../shared/slug";

/**
 * Tenant-filtered get-or-throw lookups: the one place that turns an id or slug from a request into
 * a row the caller may see. `policy.ts` decides what a principal may do; this module decides which
 * rows it may reach. A row outside the caller's tenant is NOT_FOUND exactly like one that does not
 * exist (same code, same message), so a 404 never tells one tenant what exists in another.
 */

export type OrgRow = typeof organizations.$inferSelect;
export type AgentRow = typeof agents.$inferSelect;

/**
 * Row locks a lookup may take. "update" is FOR NO KEY UPDATE: it serialises changes of the row and
 * conflicts with "share", but not with the key-share locks that foreign keys of rows referencing it
 * take (usage events being ingested); FOR UPDATE made a move, a toggle and an ingestion deadlock
 * (tests/db/mixed-concurrency.test.ts).
 */
export type Lock = "update" | "share";

/**
 * SQL condition matching an organization by id or slug, or null when `ref` can be neither (it then
 * matches nothing, and never reaches SQL: a path segment may hold any bytes). A slug never looks
 * like a UUID, so the two cannot be confused.
 */
function orgRefCondition(ref: string): SQL | null {
  if (isUuid(ref)) return eq(organizations.id, ref.toLowerCase());
  if (ref.length <= SLUG_MAX && SLUG_PATTERN.test(ref)) return eq(organizations.slug, ref);
  return null;
}

async function locked<T>(query: { for(strength: "no key update" | "share"): Promise<T[]> } & PromiseLike<T[]>, lock?: Lock): Promise<T | undefined> {
  const [row] = lock === "update" ? await query.for("no key update") : lock === "share" ? await query.for("share") : await query;
  return row;
}

/** Loads a live organization the caller may see, by id or slug, optionally locking it. */
export async function findOrg(tx: DbOrTx, ctx: Ctx, ref: string, lock?: Lock): Promise<OrgRow> {
  const tenant = tenantOrgId(ctx.principal);
  const match = orgRefCondition(ref);
  if (!match) throw notFound("Organization");
  const row = await locked(tx.select().from(organizations).where(and(match, isNull(organizations.deletedAt), tenant ? eq(organizations.id, tenant) : undefined)), lock);
  if (!row) throw notFound("Organization");
  return row;
}

/**
 * The id of an organization a filter names (the audit log's `org`): a live one by slug, or any by
 * id, deleted ones included, since history outlives the organization.
 */
export async function findOrgIdForHistory(tx: DbOrTx, ctx: Ctx, ref: string): Promise<string> {
  const tenant = tenantOrgId(ctx.principal);
  const match = orgRefCondition(ref);
  if (!match) throw notFound("Organization");
  const [row] = await tx
    .select({ id: organizations.id, deletedAt: organizations.deletedAt })
    .from(organizations)
    .where(match)
    .orderBy(organizations.deletedAt)
    .limit(1);
  if (!row || (!isUuid(ref) && row.deletedAt) || (tenant && row.id !== tenant)) throw notFound("Organization");
  return row.id;
}

/** Loads an agent the caller may see (its organization is in the caller's tenant), optionally locked. */
export async function findAgent(tx: DbOrTx, ctx: Ctx, id: string, lock?: Lock): Promise<AgentRow> {
  if (!isUuid(id)) throw notFound("Agent");
  const tenant = tenantOrgId(ctx.principal);
  const row = await locked(tx.select().from(agents).where(and(eq(agents.id, id.toLowerCase()), tenant ? eq(agents.orgId, tenant) : undefined)), lock);
  if (!row) throw notFound("Agent");
  return row;
}
