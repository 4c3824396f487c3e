import { and, asc, eq, fillPlaceholders, getTableColumns, getTableName, ilike, isNull, or, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Db, DbOrTx, Tx } from "../../../db/client";
import { agentAssignments, agents, INTERNAL_ORG_ID, organizations } from "../../../db/schema";
import { authorize, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, invalidField, pgCode } from "../../errors";
import { decodeCursor, encodeCursor } from "../../shared/cursor";
import { containsPattern } from "../../shared/like";
import { randomSlug, slugCandidate, slugify, slugProblem } from "../../shared/slug";
import * as agentService from "../agents/service";
import * as audit from "../audit/service";
import * as events from "../events/service";
import * as periods from "../periods/service";
import { findOrg, type OrgRow } from "../tenancy/service";
import type { Org, OrgCreateInput, OrgUpdateInput } from "./schema";
import type { z } from "zod";
import type { orgListInput, orgToggleInput } from "./schema";

/**
 * `"table"."column"`, qualified by hand: inside a selected subquery Drizzle renders columns
 * unqualified, which would bind both sides of the agent count's condition to "agents".
 */
const qualified = (table: PgTable, column: AnyPgColumn) => sql`${sql.identifier(getTableName(table))}.${sql.identifier(column.name)}`;
const agentCount = sql<number>`(select count(*)::int from ${agents} where ${qualified(agents, agents.orgId)} = ${qualified(organizations, organizations.id)})`;

const orgColumns = { org: organizations, agentCount };

export function toOrg(row: OrgRow, count: number): Org {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    contact_name: row.contactName,
    contact_email: row.contactEmail,
    description: row.description,
    billing_rate_per_agent: row.billingRatePerAgent,
    currency: row.currency,
    is_active: row.isActive,
    is_internal: row.isInternal,
    agent_count: Number(count),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

type ListShape = { tenant: boolean; status: boolean; q: boolean; cursor: boolean };

/** The organization's columns in the order Drizzle selects them (`orgColumns`: the table's columns, then the agent count). */
const ORG_FIELDS = Object.entries(getTableColumns(organizations));

/**
 * One row of the list query as the driver returns it (an array of values, in `ORG_FIELDS` order),
 * decoded by each column's own Drizzle decoder: what Drizzle's generic row mapping does, without
 * its per-value type checks and path walking, which cost more CPU than the query itself.
 */
function listRow(values: unknown[]): { org: OrgRow; agentCount: number } {
  const org: Record<string, unknown> = {};
  for (let i = 0; i < ORG_FIELDS.length; i++) {
    const [key, column] = ORG_FIELDS[i]!;
    const value = values[i];
    org[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return { org: org as OrgRow, agentCount: Number(values[ORG_FIELDS.length]) };
}

/** The driver under a database handle, for the list query (a transaction handle has none: Drizzle runs it then). */
type ListClient = { unsafe?: (text: string, params: unknown[], options: { prepare: boolean }) => { values(): Promise<unknown[][]> }; query?: (text: string, params: unknown[], options: { rowMode: "array" }) => Promise<{ rows: unknown[][] }> };

/**
 * The list query for one combination of filters, built once per database handle and shape and run
 * with placeholders: building a Drizzle query costs more CPU than PostgreSQL spends running this
 * one (docs/benchmarks.md, B1). Drizzle renders its text once; the driver runs it as a prepared
 * statement and returns arrays of values, which `listRow` decodes.
 */
const listQueries = new WeakMap<Db, Map<string, ReturnType<typeof buildListQuery>>>();
function buildListQuery(db: Db, shape: ListShape, key: string) {
  const conditions: (SQL | undefined)[] = [isNull(organizations.deletedAt)];
  if (shape.tenant) conditions.push(eq(organizations.id, sql.placeholder("tenant")));
  if (shape.status) conditions.push(eq(organizations.isActive, sql.placeholder("active")));
  if (shape.q) {
    const pattern = sql.placeholder("pattern");
    conditions.push(or(ilike(organizations.name, pattern), ilike(organizations.slug, pattern), ilike(organizations.contactEmail, pattern)));
  }
  if (shape.cursor) conditions.push(sql`(${organizations.name}, ${organizations.id}) > (${sql.placeholder("afterName")}, ${sql.placeholder("afterId")}::uuid)`);
  const query = db
    .select(orgColumns)
    .from(organizations)
    .where(and(...conditions))
    .orderBy(asc(organizations.name), asc(organizations.id))
    .limit(sql.placeholder("limit"));
  const client = (db as { $client?: ListClient }).$client;
  const { sql: text, params } = query.toSQL();
  const drizzlePrepared = query.prepare(`orgs_list_${key}`);
  return async (values: Record<string, unknown>): Promise<{ org: OrgRow; agentCount: number }[]> => {
    // postgres.js: a named prepared statement, as Drizzle's `.prepare()` runs it; PGlite: its
    // extended protocol; anything else (a transaction handle): Drizzle's own execution.
    if (client?.unsafe) return (await client.unsafe(text, fillPlaceholders(params, values), { prepare: true }).values()).map(listRow);
    if (client?.query) return (await client.query(text, fillPlaceholders(params, values), { rowMode: "array" })).rows.map(listRow);
    return drizzlePrepared.execute(values);
  };
}
function listQuery(db: Db, shape: ListShape) {
  let byShape = listQueries.get(db);
  if (!byShape) listQueries.set(db, (byShape = new Map()));
  const key = `${+shape.tenant}${+shape.status}${+shape.q}${+shape.cursor}`;
  let query = byShape.get(key);
  if (!query) byShape.set(key, (query = buildListQuery(db, shape, key)));
  return query;
}

/** Lists organizations the caller may see, by name, with search, status filter and keyset pagination. */
export async function list({ ctx, input }: { ctx: Ctx; input: z.infer<typeof orgListInput> }) {
  authorize(ctx.principal, "org.read");
  const tenant = tenantOrgId(ctx.principal);
  const q = input.q?.trim();
  const [afterName, afterId] = input.cursor ? (decodeCursor(input.cursor, ["text", "uuid"]) as [string, string]) : [];
  const rows = await listQuery(ctx.db, { tenant: Boolean(tenant), status: Boolean(input.status), q: Boolean(q), cursor: Boolean(input.cursor) })({
    tenant,
    active: input.status === "active",
    pattern: q ? containsPattern(q) : undefined,
    afterName,
    afterId,
    limit: input.limit + 1,
  });
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    organizations: page.map((r) => toOrg(r.org, r.agentCount)),
    next_cursor: rows.length > input.limit && last ? encodeCursor([last.org.name, last.org.id]) : null,
  };
}

/** One organization with its current agents. */
export async function get({ ctx, input }: { ctx: Ctx; input: { id: string } }) {
  authorize(ctx.principal, "org.read");
  const row = await findOrg(ctx.db, ctx, input.id);
  const agentsOfOrg = await agentService.listInOrg(ctx, row);
  return { ...toOrg(row, agentsOfOrg.length), agents: agentsOfOrg };
}

/**
 * Creates an organization. The slug comes from the caller (400 if invalid, 409 if taken) or from
 * the name (`-2`, `-3`, … when taken). Its status and rate histories start at `created_at`.
 */
export async function create({ ctx, input }: { ctx: Ctx; input: OrgCreateInput }): Promise<Org> {
  authorize(ctx.principal, "org.create");
  const createdAt = input.created_at ?? new Date();
  const explicit = input.slug !== undefined;
  if (explicit) {
    const problem = slugProblem(input.slug!);
    if (problem) throw invalidField("slug", problem);
  }
  const base = explicit ? input.slug! : slugify(input.name) || randomSlug();
  for (let attempt = 1; attempt <= 50; attempt++) {
    // Reserved words are skipped for generated slugs ("New" → "new-2").
    const slug = slugCandidate(base, attempt);
    if (!explicit && slugProblem(slug)) continue;
    try {
      return await ctx.db.transaction(async (tx) => {
        const [row] = await tx
          .insert(organizations)
          .values({
            name: input.name,
            slug,
            contactName: input.contact_name ?? null,
            contactEmail: input.contact_email ?? null,
            description: input.description ?? null,
            billingRatePerAgent: input.billing_rate_per_agent ?? "0.00",
            currency: input.currency ?? "USD",
            createdAt,
            updatedAt: createdAt,
          })
          .returning();
        await periods.startOrg(tx, row!);
        const org = toOrg(row!, 0);
        await audit.record(tx, ctx, { action: "organization.create", orgId: row!.id, targetType: "organization", targetId: row!.id, after: org }, org);
        return org;
      });
    } catch (err) {
      if (pgCode(err) !== "23505") throw err;
      if (explicit) throw new AppError("CONFLICT", `The slug "${slug}" is already taken`, { errors: [{ path: "slug", message: "is already taken" }] });
    }
  }
  throw new AppError("CONFLICT", "Could not find a free slug for this name; give one explicitly");
}

/**
 * Whether an organization has revenue or usage history (its currency is then fixed). Usage is
 * attributed only to an organization the agent was assigned to, so any assignment ever is the test.
 */
async function hasHistory(tx: DbOrTx, orgId: string): Promise<boolean> {
  const [row] = await tx.select({ one: sql`1` }).from(agentAssignments).where(eq(agentAssignments.orgId, orgId)).limit(1);
  return row !== undefined;
}

/**
 * Updates an organization's fields. A rate change closes the current rate period at `effective_at`
 * (default now) and opens a new one: never retroactive. Currency is fixed once history exists. The
 * slug never changes: repeating the current one is a no-op (clients send back what they read).
 */
export async function update({ ctx, input }: { ctx: Ctx; input: OrgUpdateInput }): Promise<Org> {
  authorize(ctx.principal, "org.update");
  return ctx.db.transaction(async (tx) => {
    const row = await findOrg(tx, ctx, input.id, "update");
    if (input.slug !== undefined && input.slug !== row.slug) throw invalidField("slug", "cannot be changed after creation");
    const rateChanged = input.billing_rate_per_agent !== undefined && input.billing_rate_per_agent !== row.billingRatePerAgent;
    if (input.effective_at && !rateChanged) throw invalidField("effective_at", "applies only to a change of billing_rate_per_agent");
    if (row.isInternal && rateChanged) throw invalidField("billing_rate_per_agent", "the internal organization cannot have a billing rate");
    if (row.isInternal && input.currency && input.currency !== row.currency) throw invalidField("currency", "the internal organization bills in USD");
    if (input.currency && input.currency !== row.currency && (await hasHistory(tx, row.id))) {
      throw new AppError("CONFLICT", "The currency cannot change once the organization has billing or usage history", {
        errors: [{ path: "currency", message: "is fixed once history exists" }],
      });
    }
    const now = new Date();
    if (rateChanged) await periods.changeOrg(tx, row, { rate: input.billing_rate_per_agent }, input.effective_at ?? now);
    const [updated] = await tx
      .update(organizations)
      .set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.contact_name !== undefined ? { contactName: input.contact_name } : {}),
        ...(input.contact_email !== undefined ? { contactEmail: input.contact_email } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.billing_rate_per_agent !== undefined ? { billingRatePerAgent: input.billing_rate_per_agent } : {}),
        ...(input.currency !== undefined ? { currency: input.currency } : {}),
        updatedAt: now,
      })
      .where(eq(organizations.id, row.id))
      .returning();
    const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(agents).where(eq(agents.orgId, row.id));
    const before = toOrg(row, count);
    const after = toOrg(updated!, count);
    await audit.recordChange(tx, ctx, {
      action: rateChanged ? "organization.rate_change" : "organization.update",
      orgId: row.id,
      targetType: "organization",
      targetId: row.id,
      before,
      after,
    });
    return after;
  });
}

/**
 * Deletes an organization that has no agents. The row is locked first, so an assignment racing
 * the delete either lands before (and the delete is refused) or sees the organization gone.
 */
async function remove({ ctx, input }: { ctx: Ctx; input: { id: string } }) {
  authorize(ctx.principal, "org.delete");
  return ctx.db.transaction(async (tx) => {
    const row = await findOrg(tx, ctx, input.id, "update");
    if (row.isInternal) throw new AppError("CONFLICT", "The internal organization cannot be deleted");
    const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(agents).where(eq(agents.orgId, row.id));
    if (count > 0) {
      throw new AppError(
        "CONFLICT",
        `The organization still has ${count} agent${count === 1 ? "" : "s"}; move or unassign ${count === 1 ? "it" : "them"} first`,
      );
    }
    const now = new Date();
    await tx.update(organizations).set({ deletedAt: now, updatedAt: now }).where(eq(organizations.id, row.id));
    await audit.record(tx, ctx, { action: "organization.delete", orgId: row.id, targetType: "organization", targetId: row.id, before: toOrg(row, 0) });
    return { success: true as const, id: row.id, slug: row.slug };
  });
}
export { remove as delete };

/**
 * Activates or deactivates an organization (explicit `is_active` is idempotent; none flips).
 * Agents rows are untouched: their effective status is derived, so reactivation restores exactly.
 */
export async function toggle({ ctx, input }: { ctx: Ctx; input: z.infer<typeof orgToggleInput> }) {
  authorize(ctx.principal, "org.toggle");
  return ctx.db.transaction(async (tx: Tx) => {
    const row = await findOrg(tx, ctx, input.id, "update");
    const next = input.is_active ?? !row.isActive;
    if (row.isInternal && !next) throw new AppError("CONFLICT", "The internal organization cannot be deactivated");
    if (next === row.isActive) {
      if (input.effective_at) throw invalidField("effective_at", "applies only when the status changes");
      return { id: row.id, is_active: row.isActive };
    }
    await periods.changeOrg(tx, row, { isActive: next }, input.effective_at ?? new Date());
    const [updated] = await tx.update(organizations).set({ isActive: next, updatedAt: new Date() }).where(eq(organizations.id, row.id)).returning();
    const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(agents).where(eq(agents.orgId, row.id));
    await audit.record(
      tx,
      ctx,
      { action: "organization.toggle", orgId: row.id, targetType: "organization", targetId: row.id, before: { is_active: row.isActive }, after: { is_active: next } },
      toOrg(updated!, count),
    );
    // Every agent's effective status follows the organization's (docs/guardrails.md, "Suspensions").
    const inOrg = await tx.select({ id: agents.id }).from(agents).where(eq(agents.orgId, row.id)).orderBy(asc(agents.id));
    for (const { id } of inOrg) {
      await events.emit(tx, next ? "agent.resumed" : "agent.suspended", { agent: await agentService.loadAgent(tx, id), reason: "organization_inactive" });
    }
    return { id: row.id, is_active: next };
  });
}

