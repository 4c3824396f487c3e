import { and, asc, desc, eq, inArray, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { z } from "zod";
import type { DbOrTx, Tx } from "../../../db/client";
import { agentAssignments, agents, budgetAlerts, budgets, budgetSuspensions, organizations, usageMonthTotals } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, invalidField, notFound, pgCode } from "../../errors";
import { decodeCursor, encodeCursor } from "../../shared/cursor";
import { compare, dec, div, isZero, mul, type Ratio, round, sub, sum, ZERO } from "../../shared/money";
import { monthEnd, monthOf, monthStart } from "../../shared/time";
import { isUuid } from "../../shared/uuid";
import { loadAgent } from "../agents/service";
import * as audit from "../audit/service";
import { monthRevenue } from "../billing/service";
import * as evaluations from "../evaluations/service";
import * as events from "../events/service";
import { findAgent, findOrg, findOrgIdForHistory } from "../tenancy/service";
import { type Alert, type alertListInput, type Budget, type BudgetKind, type budgetCreateInput, type budgetListQuery, type budgetUpdateInput, DEFAULT_THRESHOLDS } from "./schema";

/**
 * Budgets, their alerts and budget suspensions (docs/guardrails.md). Nothing here keeps a running
 * total: every evaluation computes the month's spend from the usage rollups and the allowance from
 * the budget (and, for a margin floor, from the month's revenue as billing computes it), so a new
 * month, a changed budget, a re-pricing or a move need nothing reset. Each (budget, month,
 * threshold) alert exists at most once (a unique index); evaluations of one budget are serialised by
 * a lock on its row.
 */

type BudgetRow = typeof budgets.$inferSelect;

/** The month's spend and allowance of a budget, exact USD. `allowance` is null when an FX rate is missing. */
interface Figures {
  spend: Ratio;
  allowance: Ratio | null;
}

const firstDay = (month: string) => `${month}-01`;

// ---------------------------------------------------------------------------------------------
// Figures: spend from the month rollups, allowance from the amount or from revenue.

/** Exact USD token cost of `month` per organization (org budgets) and per agent (agent budgets). */
async function spends(tx: DbOrTx, list: BudgetRow[], month: string) {
  const orgIds = [...new Set(list.filter((b) => b.agentId === null).map((b) => b.orgId))];
  const agentIds = [...new Set(list.filter((b) => b.agentId !== null).map((b) => b.agentId!))];
  const r = usageMonthTotals;
  const [byOrg, byAgent] = await Promise.all([
    orgIds.length === 0
      ? []
      : tx
          .select({ id: r.orgId, cost: sql<string>`sum(${r.costUsd})::text` })
          .from(r)
          .where(and(eq(r.month, firstDay(month)), inArray(r.orgId, orgIds)))
          .groupBy(r.orgId),
    agentIds.length === 0
      ? []
      : tx
          .select({ id: r.agentId, cost: sql<string>`sum(${r.costUsd})::text` })
          .from(r)
          .where(and(eq(r.month, firstDay(month)), inArray(r.agentId, agentIds)))
          .groupBy(r.agentId),
  ]);
  return { byOrg: new Map(byOrg.map((x) => [x.id, dec(x.cost)])), byAgent: new Map(byAgent.map((x) => [x.id, dec(x.cost)])) };
}

/**
 * Projected full-month revenue in USD at the month's FX, per organization and per agent (over every
 * organization the agent was in during the month), for the margin-floor budgets of `list`; null
 * where an FX rate is missing.
 */
async function revenuesUsd(tx: DbOrTx, list: BudgetRow[], month: string, now: Date) {
  const floors = list.filter((b) => b.kind === "margin_floor_pct");
  const byOrg = new Map<string, Ratio | null>();
  const byAgent = new Map<string, Ratio | null>();
  if (floors.length === 0) return { byOrg, byAgent };
  const agentIds = floors.filter((b) => b.agentId !== null).map((b) => b.agentId!);
  const orgIds = new Set(floors.filter((b) => b.agentId === null).map((b) => b.orgId));
  if (agentIds.length > 0) {
    // Every organization an agent was assigned to during the month, or has usage in for it.
    const a = agentAssignments;
    const [assigned, used] = await Promise.all([
      tx
        .select({ orgId: a.orgId })
        .from(a)
        .where(and(inArray(a.agentId, agentIds), lt(a.startsAt, monthEnd(month)), or(isNull(a.endsAt), sql`${a.endsAt} > ${monthStart(month).toISOString()}::timestamptz`))),
      tx
        .selectDistinct({ orgId: usageMonthTotals.orgId })
        .from(usageMonthTotals)
        .where(and(inArray(usageMonthTotals.agentId, agentIds), eq(usageMonthTotals.month, firstDay(month)))),
    ]);
    for (const row of [...assigned, ...used]) orgIds.add(row.orgId);
  }
  const perAgent = new Map<string, Ratio[]>();
  const missing = new Set<string>();
  for (const m of await monthRevenue(tx, [...orgIds], month, now)) {
    const usd = (amount: string) => (m.fx === null ? null : div(dec(amount), dec(m.fx)));
    byOrg.set(m.orgId, usd(m.projectedRevenue));
    for (const line of m.lines) {
      const value = usd(line.projectedRevenue);
      if (value === null) {
        if (!isZero(dec(line.projectedRevenue))) missing.add(line.agentId);
        continue;
      }
      perAgent.set(line.agentId, [...(perAgent.get(line.agentId) ?? []), value]);
    }
  }
  for (const id of agentIds) byAgent.set(id, missing.has(id) ? null : sum(perAgent.get(id) ?? []));
  return { byOrg, byAgent };
}

/** Spend and allowance of each budget of `list` in `month`. */
async function figuresOf(tx: DbOrTx, list: BudgetRow[], month: string, now: Date): Promise<Map<string, Figures>> {
  const [spent, revenue] = await Promise.all([spends(tx, list, month), revenuesUsd(tx, list, month, now)]);
  const out = new Map<string, Figures>();
  for (const b of list) {
    const spend = (b.agentId === null ? spent.byOrg.get(b.orgId) : spent.byAgent.get(b.agentId)) ?? ZERO;
    let allowance: Ratio | null;
    if (b.kind === "cost_usd") allowance = dec(b.amount);
    else {
      const rev = b.agentId === null ? revenue.byOrg.get(b.orgId) : revenue.byAgent.get(b.agentId);
      // (1 − floor/100) × projected revenue: the cost that leaves the month's margin at the floor.
      allowance = rev === undefined ? ZERO : rev === null ? null : mul(sub(dec(1), div(dec(b.amount), dec(100))), rev);
    }
    out.set(b.id, { spend, allowance });
  }
  return out;
}

/**
 * Whether `threshold` % of the allowance is reached. Spending nothing crosses nothing, so a
 * budget with a zero allowance (no revenue yet under a margin floor) alerts at the first cost.
 */
function crossed(f: Figures, threshold: number): boolean {
  if (f.allowance === null || isZero(f.spend)) return false;
  return compare(mul(f.spend, dec(100)), mul(f.allowance, dec(threshold))) >= 0;
}

// ---------------------------------------------------------------------------------------------
// Output.

const asMonth = (day: string) => day.slice(0, 7);

function usedPct(f: Figures): string | null {
  if (f.allowance === null || isZero(f.allowance)) return null;
  return round(mul(div(f.spend, f.allowance), dec(100)), 1);
}

/** The organization each agent budget's agent is in now. */
async function agentOrgs(tx: DbOrTx, list: BudgetRow[]): Promise<Map<string, string>> {
  const ids = list.filter((b) => b.agentId !== null).map((b) => b.agentId!);
  if (ids.length === 0) return new Map();
  const found = await tx.select({ id: agents.id, orgId: agents.orgId }).from(agents).where(inArray(agents.id, ids));
  return new Map(found.map((a) => [a.id, a.orgId]));
}

/** Budgets with a suspension in force for `month`. */
async function suspendedIds(tx: DbOrTx, ids: string[], month: string): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const s = budgetSuspensions;
  const found = await tx
    .select({ id: s.budgetId })
    .from(s)
    .where(and(inArray(s.budgetId, ids), isNull(s.liftedAt), eq(s.month, firstDay(month))));
  return new Set(found.map((r) => r.id));
}

async function toBudgets(tx: DbOrTx, list: BudgetRow[], now: Date): Promise<Budget[]> {
  const month = monthOf(now);
  const [figures, orgOf, suspended] = await Promise.all([figuresOf(tx, list, month, now), agentOrgs(tx, list), suspendedIds(tx, list.map((b) => b.id), month)]);
  return list.map((b) => {
    const f = figures.get(b.id)!;
    return {
      id: b.id,
      org_id: b.agentId === null ? b.orgId : (orgOf.get(b.agentId) ?? b.orgId),
      agent_id: b.agentId,
      kind: b.kind as BudgetKind,
      amount: round(dec(b.amount), 2),
      thresholds_pct: b.thresholdsPct,
      action_at_100: b.actionAt100 as "notify" | "suspend",
      month,
      spend_usd: round(f.spend, 4),
      allowance_usd: f.allowance === null ? null : round(f.allowance, 4),
      used_pct: usedPct(f),
      suspended: suspended.has(b.id),
      created_at: b.createdAt.toISOString(),
      updated_at: b.updatedAt.toISOString(),
    };
  });
}

/** What the audit log records of a budget; the amount is named after its unit, so the log hides it from whoever may not see costs. */
function auditFields(b: BudgetRow) {
  return {
    kind: b.kind,
    [b.kind === "cost_usd" ? "amount_usd" : "margin_floor_pct"]: round(dec(b.amount), 2),
    thresholds_pct: b.thresholdsPct,
    action_at_100: b.actionAt100,
    agent_id: b.agentId,
  };
}

/** A live budget by id, locked, or the same 404 as an unknown id. */
async function findBudget(tx: DbOrTx, id: string): Promise<BudgetRow> {
  if (!isUuid(id)) throw notFound("Budget");
  const [row] = await tx
    .select()
    .from(budgets)
    .where(and(eq(budgets.id, id.toLowerCase()), isNull(budgets.deletedAt)))
    .for("no key update");
  if (!row) throw notFound("Budget");
  return row;
}

// ---------------------------------------------------------------------------------------------
// Suspensions.

/** The agents a budget applies to now: its agent, or every agent currently in its organization. */
async function agentsOf(tx: DbOrTx, b: BudgetRow): Promise<string[]> {
  if (b.agentId !== null) return [b.agentId];
  const found = await tx.select({ id: agents.id }).from(agents).where(eq(agents.orgId, b.orgId)).orderBy(asc(agents.id));
  return found.map((a) => a.id);
}

type LiftReason = "month_end" | "budget_changed" | "budget_removed" | "staff";

/** Sends `agent.suspended` or `agent.resumed` for every agent of a budget, in the caller's transaction. */
async function emitAgents(tx: DbOrTx, b: BudgetRow, type: "agent.suspended" | "agent.resumed", extra: Record<string, unknown>) {
  for (const id of await agentsOf(tx, b)) {
    await events.emit(tx, type, { agent: await loadAgent(tx, id), reason: "budget", budget_id: b.id, ...extra });
  }
}

async function suspend(tx: DbOrTx, ctx: Ctx, b: BudgetRow, month: string, f: Figures): Promise<void> {
  const inserted = await tx
    .insert(budgetSuspensions)
    .values({ budgetId: b.id, month: firstDay(month) })
    .onConflictDoNothing()
    .returning({ id: budgetSuspensions.id });
  if (inserted.length === 0) return;
  const agentIds = await agentsOf(tx, b);
  await audit.record(tx, ctx, {
    action: "budget.suspend",
    orgId: b.orgId,
    targetType: "budget",
    targetId: b.id,
    after: { month, agent_ids: agentIds, spend_usd: round(f.spend, 4), allowance_usd: f.allowance === null ? null : round(f.allowance, 4) },
  });
  await emitAgents(tx, b, "agent.suspended", { month });
}

/** Lifts the budget's suspension in force, if any: recorded, audited and sent for each agent. */
async function lift(tx: DbOrTx, ctx: Ctx, b: BudgetRow, reason: LiftReason): Promise<boolean> {
  const lifted = await tx
    .update(budgetSuspensions)
    .set({ liftedAt: new Date(), liftReason: reason })
    .where(and(eq(budgetSuspensions.budgetId, b.id), isNull(budgetSuspensions.liftedAt)))
    .returning({ month: budgetSuspensions.month });
  if (lifted.length === 0) return false;
  const month = asMonth(lifted[0]!.month);
  await audit.record(tx, ctx, { action: "budget.resume", orgId: b.orgId, targetType: "budget", targetId: b.id, after: { month, reason } });
  // A suspension of a month that has ended stopped applying when it ended; its agents are told now.
  await emitAgents(tx, b, "agent.resumed", { month, lifted_because: reason });
  return true;
}

/** Whether staff lifted this budget's suspension in `month` (it then stays lifted for the month). */
async function liftedByStaff(tx: DbOrTx, budgetId: string, month: string): Promise<boolean> {
  const found = await tx
    .select({ id: budgetSuspensions.id })
    .from(budgetSuspensions)
    .where(and(eq(budgetSuspensions.budgetId, budgetId), eq(budgetSuspensions.month, firstDay(month)), eq(budgetSuspensions.liftReason, "staff")))
    .limit(1);
  return found.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/**
 * Evaluates one locked budget for `month`: an alert for each threshold crossed that has none yet
 * (sent as `budget.threshold_crossed`), and for the current month the suspension at 100 % with
 * `suspend` — or its lift when the budget no longer calls for it. Runs in the caller's transaction.
 */
async function evaluateLocked(tx: DbOrTx, ctx: Ctx, b: BudgetRow, month: string, now: Date): Promise<void> {
  const f = (await figuresOf(tx, [b], month, now)).get(b.id)!;
  const current = month === monthOf(now);
  // A month that has ended has no suspension in force: record it as lifted.
  const [open] = await tx
    .select({ month: budgetSuspensions.month })
    .from(budgetSuspensions)
    .where(and(eq(budgetSuspensions.budgetId, b.id), isNull(budgetSuspensions.liftedAt)));
  if (open && asMonth(open.month) < monthOf(now)) await lift(tx, ctx, b, "month_end");
  if (f.allowance === null) return;
  const reached = b.thresholdsPct.filter((t) => crossed(f, t));
  if (reached.length > 0) {
    const orgId = b.agentId === null ? b.orgId : ((await agentOrgs(tx, [b])).get(b.agentId) ?? b.orgId);
    const inserted = await tx
      .insert(budgetAlerts)
      // Millisecond times (as the list's cursor carries them).
      .values(reached.map((t) => ({ budgetId: b.id, orgId, month: firstDay(month), thresholdPct: t, spendUsd: round(f.spend, 18), allowanceUsd: round(f.allowance!, 18), createdAt: now })))
      .onConflictDoNothing()
      .returning({ id: budgetAlerts.id });
    if (inserted.length > 0) {
      const alerts = await loadAlerts(tx, inArray(budgetAlerts.id, inserted.map((r) => r.id)));
      for (const alert of alerts.sort((x, y) => x.threshold_pct - y.threshold_pct)) {
        await events.emit(tx, "budget.threshold_crossed", { alert, budget: { id: b.id, ...auditFields(b) } });
      }
    }
  }
  if (!current) return;
  const wantsSuspension = b.actionAt100 === "suspend" && crossed(f, 100);
  const inForce = open !== undefined && asMonth(open.month) === month;
  if (wantsSuspension && !inForce && !(await liftedByStaff(tx, b.id, month))) await suspend(tx, ctx, b, month, f);
  else if (!wantsSuspension && inForce) await lift(tx, ctx, b, "budget_changed");
}

/** Locks and evaluates each budget of `ids` in its own transaction (one budget's failure does not hold up the others). */
async function evaluateEach(ctx: Ctx, ids: string[], month: string): Promise<void> {
  for (const id of ids) {
    await ctx.db.transaction(async (tx) => {
      const [b] = await tx
        .select()
        .from(budgets)
        .where(and(eq(budgets.id, id), isNull(budgets.deletedAt)))
        .for("no key update");
      if (b) await evaluateLocked(tx, ctx, b, month, new Date());
    });
  }
}

/**
 * The budgets touched by usage of `orgId` in `month` — the organization's own and those of agents
 * with usage there in the month — evaluated for that month (the `budgets.evaluate` job).
 */
export async function evaluate(ctx: Ctx, input: { orgId: string; month: string }): Promise<void> {
  const withUsage = ctx.db
    .select({ id: usageMonthTotals.agentId })
    .from(usageMonthTotals)
    .where(and(eq(usageMonthTotals.orgId, input.orgId), eq(usageMonthTotals.month, firstDay(input.month))));
  const found = await ctx.db
    .select({ id: budgets.id })
    .from(budgets)
    .where(and(isNull(budgets.deletedAt), or(and(isNull(budgets.agentId), eq(budgets.orgId, input.orgId)), inArray(budgets.agentId, withUsage))))
    .orderBy(asc(budgets.id));
  await evaluateEach(
    ctx,
    found.map((r) => r.id),
    input.month,
  );
}

/**
 * The periodic sweep (`budgets.sweep`): every live budget's current month (allowances that follow
 * revenue move with rate changes and moves), and every suspension of an ended month lifted.
 */
export async function sweep(ctx: Ctx): Promise<void> {
  const now = new Date();
  const month = monthOf(now);
  const ended = await ctx.db
    .selectDistinct({ id: budgetSuspensions.budgetId })
    .from(budgetSuspensions)
    .where(and(isNull(budgetSuspensions.liftedAt), lt(budgetSuspensions.month, firstDay(month))));
  for (const { id } of ended) {
    await ctx.db.transaction(async (tx) => {
      const [b] = await tx.select().from(budgets).where(eq(budgets.id, id)).for("no key update");
      if (b) await lift(tx, ctx, b, "month_end");
    });
  }
  const live = await ctx.db.select({ id: budgets.id }).from(budgets).where(isNull(budgets.deletedAt)).orderBy(asc(budgets.id));
  await evaluateEach(
    ctx,
    live.map((r) => r.id),
    month,
  );
}

/**
 * Queues the evaluation of the budgets that usage just stored (or re-priced) may have moved, in the
 * caller's transaction: see `evaluations.queueForUsage`.
 */
export const queueEvaluations = evaluations.queueForUsage;

// ---------------------------------------------------------------------------------------------
// Use cases: budgets.

/** The caller's budgets with this month's figures: on an organization (`org`: and on its current agents) or one agent. */
export async function list({ ctx, input }: { ctx: Ctx; input: z.infer<typeof budgetListQuery> }): Promise<{ budgets: Budget[] }> {
  authorize(ctx.principal, "budgets.read");
  const conditions: (SQL | undefined)[] = [isNull(budgets.deletedAt)];
  if (input.org) {
    const org = await findOrg(ctx.db, ctx, input.org);
    const current = ctx.db.select({ id: agents.id }).from(agents).where(eq(agents.orgId, org.id));
    conditions.push(or(and(isNull(budgets.agentId), eq(budgets.orgId, org.id)), inArray(budgets.agentId, current)));
  }
  if (input.agent) conditions.push(eq(budgets.agentId, (await findAgent(ctx.db, ctx, input.agent)).id));
  const found = await ctx.db
    .select()
    .from(budgets)
    .where(and(...conditions))
    .orderBy(asc(budgets.createdAt), asc(budgets.id));
  return { budgets: await toBudgets(ctx.db, found, new Date()) };
}

const conflict = (err: unknown, what: string): never => {
  if (pgCode(err) === "23505") throw new AppError("CONFLICT", `${what} already has a budget; change that one instead`);
  throw err;
};

/**
 * Creates a budget on an organization or an agent (one live budget each), evaluated at once for the
 * current month: a budget created over its allowance alerts (and suspends) immediately.
 */
export async function create({ ctx, input }: { ctx: Ctx; input: z.infer<typeof budgetCreateInput> }): Promise<Budget> {
  authorize(ctx.principal, "budgets.manage");
  const now = new Date();
  const created = await ctx.db
    .transaction(async (tx: Tx) => {
      let orgId: string;
      let agentId: string | null = null;
      if (input.agent_id !== undefined) {
        const agent = await findAgent(tx, ctx, input.agent_id, "share");
        orgId = agent.orgId;
        agentId = agent.id;
      } else {
        orgId = (await findOrg(tx, ctx, input.org_id!, "share")).id;
      }
      const [row] = await tx
        .insert(budgets)
        .values({
          orgId,
          agentId,
          kind: input.kind,
          amount: input.amount,
          thresholdsPct: input.thresholds_pct ?? DEFAULT_THRESHOLDS,
          actionAt100: input.action_at_100 ?? "notify",
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      await audit.record(tx, ctx, { action: "budget.create", orgId, targetType: "budget", targetId: row!.id, after: auditFields(row!) });
      await evaluateLocked(tx, ctx, row!, monthOf(now), now);
      return row!;
    })
    .catch((err) => conflict(err, input.agent_id !== undefined ? "The agent" : "The organization"));
  return (await toBudgets(ctx.db, [created], new Date()))[0]!;
}

/**
 * Changes a budget's kind, amount, thresholds or action, and evaluates it again in the same
 * transaction: a budget raised above the month's spend (or no longer suspending) lifts its
 * suspension; one lowered below it alerts (and suspends) at once.
 */
export async function update({ ctx, input }: { ctx: Ctx; input: z.infer<typeof budgetUpdateInput> }): Promise<Budget> {
  authorize(ctx.principal, "budgets.manage");
  const now = new Date();
  const updated = await ctx.db.transaction(async (tx: Tx) => {
    const before = await findBudget(tx, input.id);
    const kind = input.kind ?? before.kind;
    if (kind === "margin_floor_pct" && input.amount === undefined && compare(dec(before.amount), dec(100)) >= 0) {
      throw invalidField("amount", "a margin floor must be below 100 (percent); give the floor with the new kind");
    }
    const [row] = await tx
      .update(budgets)
      .set({
        kind,
        amount: input.amount ?? before.amount,
        thresholdsPct: input.thresholds_pct ?? before.thresholdsPct,
        actionAt100: input.action_at_100 ?? before.actionAt100,
        updatedAt: now,
      })
      .where(eq(budgets.id, before.id))
      .returning();
    await audit.recordChange(tx, ctx, { action: "budget.update", orgId: before.orgId, targetType: "budget", targetId: before.id, before: auditFields(before), after: auditFields(row!) });
    await evaluateLocked(tx, ctx, row!, monthOf(now), now);
    return row!;
  });
  return (await toBudgets(ctx.db, [updated], new Date()))[0]!;
}

/** Removes a budget (its alerts stay readable); a suspension it holds is lifted in the same transaction. */
async function remove({ ctx, input }: { ctx: Ctx; input: { id: string } }) {
  authorize(ctx.principal, "budgets.manage");
  return ctx.db.transaction(async (tx: Tx) => {
    const b = await findBudget(tx, input.id);
    await lift(tx, ctx, b, "budget_removed");
    await tx.update(budgets).set({ deletedAt: new Date(), updatedAt: new Date() }).where(eq(budgets.id, b.id));
    await audit.record(tx, ctx, { action: "budget.delete", orgId: b.orgId, targetType: "budget", targetId: b.id, before: auditFields(b) });
    return { success: true as const, id: b.id };
  });
}
export { remove as delete };

/** Staff lift a budget suspension; it stays lifted until the month ends (the next month starts unsuspended anyway). */
export async function liftSuspension({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<Budget> {
  authorize(ctx.principal, "budgets.manage");
  const b = await ctx.db.transaction(async (tx: Tx) => {
    const row = await findBudget(tx, input.id);
    if (!(await lift(tx, ctx, row, "staff"))) throw new AppError("CONFLICT", "This budget has no suspension in force");
    return row;
  });
  return (await toBudgets(ctx.db, [b], new Date()))[0]!;
}

// ---------------------------------------------------------------------------------------------
// Use cases: alerts.

async function loadAlerts(tx: DbOrTx, where: SQL | undefined, limit?: number): Promise<(Alert & { _created: Date })[]> {
  const a = budgetAlerts;
  const query = tx
    .select({ alert: a, kind: budgets.kind, agentId: budgets.agentId, orgName: organizations.name, agentName: agents.name })
    .from(a)
    .innerJoin(budgets, eq(budgets.id, a.budgetId))
    .innerJoin(organizations, eq(organizations.id, a.orgId))
    .leftJoin(agents, eq(agents.id, budgets.agentId))
    .where(where)
    .orderBy(desc(a.createdAt), desc(a.id));
  const found = limit === undefined ? await query : await query.limit(limit);
  return found.map((r) => ({
    id: r.alert.id,
    budget_id: r.alert.budgetId,
    organization_id: r.alert.orgId,
    organization_name: r.orgName,
    agent_id: r.agentId,
    agent_name: r.agentName,
    kind: r.kind as BudgetKind,
    month: asMonth(r.alert.month),
    threshold_pct: r.alert.thresholdPct,
    spend_usd: round(dec(r.alert.spendUsd), 4),
    allowance_usd: round(dec(r.alert.allowanceUsd), 4),
    created_at: r.alert.createdAt.toISOString(),
    read_at: r.alert.readAt?.toISOString() ?? null,
    _created: r.alert.createdAt,
  }));
}

const publicAlert = ({ _created: _c, ...alert }: Alert & { _created: Date }): Alert => alert;

/** Alerts, newest first, with the number of unread ones (the header's count). */
export async function listAlerts({ ctx, input }: { ctx: Ctx; input: z.infer<typeof alertListInput> }) {
  authorize(ctx.principal, "budgets.read");
  const a = budgetAlerts;
  const scope: (SQL | undefined)[] = [];
  if (input.org) scope.push(eq(a.orgId, await findOrgIdForHistory(ctx.db, ctx, input.org)));
  const page: (SQL | undefined)[] = [...scope];
  if (input.unread !== undefined) page.push(input.unread ? isNull(a.readAt) : sql`${a.readAt} is not null`);
  if (input.cursor) {
    const [at, id] = decodeCursor(input.cursor, ["text", "uuid"]) as [string, string];
    page.push(sql`(${a.createdAt}, ${a.id}) < (${at}::timestamptz, ${id}::uuid)`);
  }
  const [found, [count]] = await Promise.all([
    loadAlerts(ctx.db, and(...page), input.limit + 1),
    ctx.db
      .select({ n: sql<number>`count(*)::int` })
      .from(a)
      .where(and(...scope, isNull(a.readAt))),
  ]);
  const shown = found.slice(0, input.limit);
  const last = shown.at(-1);
  return {
    alerts: shown.map(publicAlert),
    unread_count: count?.n ?? 0,
    next_cursor: found.length > input.limit && last ? encodeCursor([last._created.toISOString(), last.id]) : null,
  };
}

/** Marks an alert read (idempotent: the first time it was read is kept, and only that time is audited). */
export async function markAlertRead({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<Alert> {
  authorize(ctx.principal, "alerts.ack");
  if (!isUuid(input.id)) throw notFound("Alert");
  const id = input.id.toLowerCase();
  return ctx.db.transaction(async (tx: Tx) => {
    const [changed] = await tx
      .update(budgetAlerts)
      .set({ readAt: new Date() })
      .where(and(eq(budgetAlerts.id, id), isNull(budgetAlerts.readAt)))
      .returning({ orgId: budgetAlerts.orgId, readAt: budgetAlerts.readAt });
    const [alert] = await loadAlerts(tx, eq(budgetAlerts.id, id));
    if (!alert) throw notFound("Alert");
    if (changed) {
      await audit.record(tx, ctx, { action: "alert.read", orgId: changed.orgId, targetType: "alert", targetId: id, before: { read_at: null }, after: { read_at: alert.read_at } });
    }
    return publicAlert(alert);
  });
}
