import { and, asc, eq, getTableName, ilike, ne, or, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import type { z } from "zod";
import type { DbOrTx } from "../../../db/client";
import { agents, budgetSuspensions, budgets, INTERNAL_ORG_ID, organizations } from "../../../db/schema";
import { authorize, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, invalidField, notFound, pgCode, pgConstraint } from "../../errors";
import { decodeCursor, encodeCursor } from "../../shared/cursor";
import { containsPattern } from "../../shared/like";
import * as audit from "../audit/service";
import * as periods from "../periods/service";
import { type AgentRow, findAgent, findOrg, type OrgRow } from "../tenancy/service";
import type {
  Agent,
  agentAssignInput,
  agentAssignableInput,
  agentCreateInput,
  agentListInput,
  agentUnassignInput,
  agentUpdateInput,
} from "./schema";

/**
 * Whether a budget suspension of the current UTC month is in force for the agent (on the agent, or
 * on the organization it is in now): docs/guardrails.md, "Suspensions". A suspension of a month
 * that has ended no longer applies, whether or not the sweep has recorded its end yet.
 */
const q = (table: PgTable, column: AnyPgColumn) => sql`${sql.identifier(getTableName(table))}.${sql.identifier(column.name)}`;
// Qualified by hand: inside a selected subquery Drizzle renders columns unqualified.
const budgetSuspended = sql<boolean>`exists (
  select 1 from ${budgetSuspensions} inner join ${budgets} on ${q(budgets, budgets.id)} = ${q(budgetSuspensions, budgetSuspensions.budgetId)}
  where ${q(budgetSuspensions, budgetSuspensions.liftedAt)} is null
    and ${q(budgetSuspensions, budgetSuspensions.month)} = (date_trunc('month', now() at time zone 'UTC'))::date
    and ${q(budgets, budgets.deletedAt)} is null
    and (${q(budgets, budgets.agentId)} = ${q(agents, agents.id)}
         or (${q(budgets, budgets.agentId)} is null and ${q(budgets, budgets.orgId)} = ${q(agents, agents.orgId)})))`;

/** The columns an Agent is built from: the agent and the organization it is in now. */
const agentColumns = {
  agent: agents,
  orgSlug: organizations.slug,
  orgActive: organizations.isActive,
  orgRate: organizations.billingRatePerAgent,
  budgetSuspended,
};
type AgentJoinRow = { agent: AgentRow; orgSlug: string; orgActive: boolean; orgRate: string; budgetSuspended: boolean };

/** Effective status and why it is `suspended`: the organization's status first, then a budget. */
function effective(status: "active" | "archived", orgActive: boolean, budgetSuspended: boolean) {
  if (!orgActive) return { effective_status: "suspended" as const, suspension_reason: "organization_inactive" as const };
  if (budgetSuspended) return { effective_status: "suspended" as const, suspension_reason: "budget" as const };
  return { effective_status: status, suspension_reason: null };
}

export function toAgent(r: AgentJoinRow): Agent {
  const a = r.agent;
  return {
    id: a.id,
    name: a.name,
    email: a.email,
    description: a.description,
    external_id: a.externalId,
    status: a.status,
    ...effective(a.status, r.orgActive, r.budgetSuspended),
    org_id: a.orgId,
    org_slug: r.orgSlug,
    billing_rate: a.billingRate,
    effective_rate: a.billingRate ?? r.orgRate,
    rate_source: a.billingRate === null ? "default" : "custom",
    created_at: a.createdAt.toISOString(),
    updated_at: a.updatedAt.toISOString(),
  };
}

function selectAgents(tx: DbOrTx) {
  return tx.select(agentColumns).from(agents).innerJoin(organizations, eq(organizations.id, agents.orgId));
}

/** An agent as the API shows it, by id, whoever may see it (for callers that already decided that). */
export async function loadAgent(tx: DbOrTx, id: string): Promise<Agent> {
  const [row] = await selectAgents(tx).where(eq(agents.id, id));
  if (!row) throw notFound("Agent");
  return toAgent(row);
}

/**
 * Turns a unique-constraint violation into a 409 naming the field. Names and emails are unique only
 * among the active agents of one organization, so the conflict is always with an agent the caller's
 * organization has: it tells nobody what exists elsewhere. External ids are unique among all agents
 * (a runtime's id must name one agent); that conflict says the id is taken, and nothing about whose.
 */
function conflictFrom(err: unknown): never {
  if (pgCode(err) === "23505") {
    const constraint = pgConstraint(err) ?? "";
    if (constraint.includes("external_id")) {
      throw new AppError("CONFLICT", "This external id is already used by another agent", {
        errors: [{ path: "external_id", message: "is already used by another agent" }],
      });
    }
    const field = constraint.includes("email") ? "email" : "name";
    throw new AppError("CONFLICT", `Another active agent of the organization already has this ${field}`, {
      errors: [{ path: field, message: "is already used by another active agent of the organization" }],
    });
  }
  throw err;
}

/** The agents currently in an organization, by name. */
export async function listInOrg(ctx: Ctx, org: OrgRow): Promise<Agent[]> {
  const rows = await selectAgents(ctx.db).where(eq(agents.orgId, org.id)).orderBy(asc(agents.name), asc(agents.id));
  return rows.map(toAgent);
}

/** Lists agents the caller may see, with organization, status and text filters, by name. */
export async function list({ ctx, input }: { ctx: Ctx; input: z.infer<typeof agentListInput> }) {
  authorize(ctx.principal, "agent.read");
  const tenant = tenantOrgId(ctx.principal);
  const conditions: (SQL | undefined)[] = [];
  if (tenant) conditions.push(eq(agents.orgId, tenant));
  if (input.org) conditions.push(eq(agents.orgId, (await findOrg(ctx.db, ctx, input.org)).id));
  if (input.status === "suspended") conditions.push(or(eq(organizations.isActive, false), budgetSuspended));
  else if (input.status) conditions.push(and(eq(agents.status, input.status), eq(organizations.isActive, true), sql`not ${budgetSuspended}`));
  const q = input.q?.trim();
  if (q) {
    const pattern = containsPattern(q);
    conditions.push(or(ilike(agents.name, pattern), ilike(agents.email, pattern), ilike(agents.externalId, pattern)));
  }
  if (input.cursor) {
    const [name, id] = decodeCursor(input.cursor, ["text", "uuid"]) as [string, string];
    conditions.push(sql`(${agents.name}, ${agents.id}) > (${name}, ${id}::uuid)`);
  }
  const rows = await selectAgents(ctx.db)
    .where(and(...conditions))
    .orderBy(asc(agents.name), asc(agents.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    agents: page.map(toAgent),
    next_cursor: rows.length > input.limit && last ? encodeCursor([last.agent.name, last.agent.id]) : null,
  };
}

export async function get({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<Agent> {
  authorize(ctx.principal, "agent.read");
  const row = await findAgent(ctx.db, ctx, input.id);
  return loadAgent(ctx.db, row.id);
}

/**
 * Creates an agent in `org_id` (default: the caller's bound organization, else internal). Its
 * assignment, rate and status histories start at `created_at`, which may not precede the org's.
 */
export async function create({ ctx, input }: { ctx: Ctx; input: z.infer<typeof agentCreateInput> }): Promise<Agent> {
  authorize(ctx.principal, "agent.create");
  const createdAt = input.created_at ?? new Date();
  try {
    return await ctx.db.transaction(async (tx) => {
      const org = await findOrg(tx, ctx, input.org_id ?? tenantOrgId(ctx.principal) ?? INTERNAL_ORG_ID, "share");
      const [row] = await tx
        .insert(agents)
        .values({
          name: input.name,
          email: input.email ?? null,
          description: input.description ?? null,
          externalId: input.external_id ?? null,
          orgId: org.id,
          createdAt,
          updatedAt: createdAt,
        })
        .returning();
      await periods.startAgent(tx, row!, org);
      const agent = await loadAgent(tx, row!.id);
      await audit.record(tx, ctx, { action: "agent.create", orgId: org.id, targetType: "agent", targetId: row!.id, after: agent }, agent);
      return agent;
    });
  } catch (err) {
    conflictFrom(err);
  }
}

/**
 * Updates an agent. A custom rate change (`null` returns to the org default, `0.00` is free) takes
 * effect at `effective_at` (default now) and is never retroactive; so does a status change.
 */
export async function update({ ctx, input }: { ctx: Ctx; input: z.infer<typeof agentUpdateInput> }): Promise<Agent> {
  const rateGiven = input.billing_rate !== undefined;
  const otherGiven =
    input.name !== undefined || input.email !== undefined || input.description !== undefined || input.external_id !== undefined || input.status !== undefined;
  if (rateGiven) authorize(ctx.principal, "agent.rate");
  if (otherGiven || !rateGiven) authorize(ctx.principal, "agent.update");
  try {
    return await ctx.db.transaction(async (tx) => {
      const row = await findAgent(tx, ctx, input.id, "update");
      const before = await loadAgent(tx, row.id);
      const rateChanged = rateGiven && input.billing_rate !== row.billingRate;
      const statusChanged = input.status !== undefined && input.status !== row.status;
      if (input.effective_at && !rateChanged && !statusChanged) throw invalidField("effective_at", "applies only to a rate or status change");
      if (rateChanged || statusChanged) {
        await periods.changeAgent(tx, row, { ...(rateChanged ? { rate: input.billing_rate } : {}), ...(statusChanged ? { status: input.status } : {}) }, input.effective_at ?? new Date());
      }
      await tx
        .update(agents)
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.email !== undefined ? { email: input.email } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.external_id !== undefined ? { externalId: input.external_id } : {}),
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(rateGiven ? { billingRate: input.billing_rate } : {}),
          updatedAt: new Date(),
        })
        .where(eq(agents.id, row.id));
      const after = await loadAgent(tx, row.id);
      await audit.recordChange(tx, ctx, {
        action: rateChanged ? "agent.rate_change" : "agent.update",
        orgId: row.orgId,
        targetType: "agent",
        targetId: row.id,
        before,
        after,
      });
      return after;
    });
  } catch (err) {
    conflictFrom(err);
  }
}

/**
 * Moves an agent to another organization: in one transaction the open assignment closes at
 * `effective_at` (default now) and the new one opens there. A custom rate belongs to the old
 * assignment, so it is cleared. Locks the agent, then the target organization (a concurrent delete
 * of the target either wins and this answers 404, or waits and then sees the agent). A target
 * that already has an active agent of the same name or email is a 409.
 */
export async function assign({ ctx, input }: { ctx: Ctx; input: z.infer<typeof agentAssignInput> }) {
  authorize(ctx.principal, "agent.assign");
  try {
    return await ctx.db.transaction(async (tx) => {
      const row = await findAgent(tx, ctx, input.id, "update");
      const target = await findOrg(tx, ctx, input.org_id, "share");
      if (target.id === row.orgId) {
        // Like a rate or status that does not change (docs/decisions.md): a time for a move that
        // does not happen is refused rather than silently ignored.
        if (input.effective_at) throw invalidField("effective_at", "applies only when the agent moves to another organization");
        return { success: true as const, reassigned: false, previousOrgId: row.orgId, orgId: row.orgId, rateCleared: false, agent: await loadAgent(tx, row.id) };
      }
      const rateCleared = row.billingRate !== null;
      await periods.moveAgent(tx, row, target, input.effective_at ?? new Date(), { clearRate: rateCleared });
      await tx.update(agents).set({ orgId: target.id, billingRate: null, updatedAt: new Date() }).where(eq(agents.id, row.id));
      const agent = await loadAgent(tx, row.id);
      await audit.record(tx, ctx, {
        action: target.id === INTERNAL_ORG_ID ? "agent.unassign" : "agent.assign",
        orgId: target.id,
        targetType: "agent",
        targetId: row.id,
        before: { org_id: row.orgId, billing_rate: row.billingRate },
        after: { org_id: target.id, billing_rate: null },
      }, agent);
      return { success: true as const, reassigned: true, previousOrgId: row.orgId, orgId: target.id, rateCleared, agent };
    });
  } catch (err) {
    conflictFrom(err);
  }
}

/** Returns an agent to the internal organization (a move to internal). */
export async function unassign({ ctx, input }: { ctx: Ctx; input: z.infer<typeof agentUnassignInput> }) {
  const result = await assign({ ctx, input: { id: input.id, org_id: INTERNAL_ORG_ID, effective_at: input.effective_at } });
  return { success: true as const, previousOrgId: result.previousOrgId, orgId: result.orgId };
}

/**
 * Every agent not in `org_id`, for the assign control, labelled with where it is now. Only a
 * principal that may move agents gets it: an organization-bound one never may, so it never receives
 * another organization's agents or names (403, like the move itself).
 */
export async function assignable({ ctx, input }: { ctx: Ctx; input: z.infer<typeof agentAssignableInput> }) {
  authorize(ctx.principal, "agent.assign");
  const org = await findOrg(ctx.db, ctx, input.org_id);
  const q = input.q?.trim();
  const rows = await ctx.db
    .select({ id: agents.id, name: agents.name, status: agents.status, rate: agents.billingRate, orgId: organizations.id, orgName: organizations.name, orgActive: organizations.isActive, budgetSuspended })
    .from(agents)
    .innerJoin(organizations, eq(organizations.id, agents.orgId))
    .where(and(ne(agents.orgId, org.id), q ? ilike(agents.name, containsPattern(q)) : undefined))
    .orderBy(asc(agents.name), asc(agents.id));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    effective_status: effective(r.status, r.orgActive, r.budgetSuspended).effective_status,
    from_org_id: r.orgId,
    from_org_name: r.orgName,
    label: `[from ${r.orgName}]`,
    has_custom_rate: r.rate !== null,
  }));
}
