import { and, inArray, isNull, or, sql } from "drizzle-orm";
import { type DbOrTx, rows } from "../../../db/client";
import { agentAssignments, agents, budgets, usageMonthTotals } from "../../../db/schema";
import { budgetsEvaluate } from "../../jobs/kinds";
import * as jobs from "../../jobs/service";
import { addMonths, monthOf, monthsBetween, monthStart } from "../../shared/time";

/**
 * The budget evaluation queue (docs/guardrails.md, "When"): whatever moves a budget's spend or its
 * revenue-derived allowance — stored usage, a rate change, a move, a custom rate, an organization
 * toggle, a markup change, a re-pricing — queues a `budgets.evaluate` job for each organization and
 * month it concerns, in its own transaction, so the job exists exactly when the change does. At most
 * one job is queued per organization and month (the job key), however many changes arrive before
 * it runs. Like the events outbox, this module imports no other service, so every service that
 * makes such a change may call it (the budgets service imports services that make them).
 */

const key = (orgId: string, month: string) => `${orgId}|${month}`;

async function enqueue(tx: DbOrTx, pairs: Map<string, { org_id: string; month: string }>): Promise<void> {
  if (pairs.size === 0) return;
  await jobs.enqueueMany(
    tx,
    budgetsEvaluate,
    [...pairs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, payload]) => ({ payload, key: k })),
  );
}

/**
 * After usage was stored: one job per organization and month that has a budget on it or on one of
 * the agents concerned.
 */
export async function queueForUsage(tx: DbOrTx, touched: { orgId: string; agentId: string; month: string }[]): Promise<void> {
  if (touched.length === 0) return;
  const orgIds = [...new Set(touched.map((t) => t.orgId))];
  const agentIds = [...new Set(touched.map((t) => t.agentId))];
  const found = await tx
    .select({ orgId: budgets.orgId, agentId: budgets.agentId })
    .from(budgets)
    .where(and(isNull(budgets.deletedAt), or(and(isNull(budgets.agentId), inArray(budgets.orgId, orgIds)), inArray(budgets.agentId, agentIds))));
  if (found.length === 0) return;
  const orgBudgets = new Set(found.filter((b) => b.agentId === null).map((b) => b.orgId));
  const agentBudgets = new Set(found.filter((b) => b.agentId !== null).map((b) => b.agentId!));
  const pairs = new Map<string, { org_id: string; month: string }>();
  for (const t of touched) {
    if (orgBudgets.has(t.orgId) || agentBudgets.has(t.agentId)) pairs.set(key(t.orgId, t.month), { org_id: t.orgId, month: t.month });
  }
  await enqueue(tx, pairs);
}

/**
 * After a change of the organizations' revenue from `from` on (a rate, a move, a custom rate, a
 * toggle, an archive, a markup): one job per organization and month from `from`'s month (at most
 * the previous month) to the current one, for each organization that has a budget on it or on an agent that is in it now,
 * was assigned to it in those months or has usage there. The job evaluates the organization's
 * budget and the budgets of the agents with usage in it — the only agent budgets whose state a
 * revenue change can move (an agent budget without spend crosses nothing and holds no suspension).
 */
export async function queueForRevenue(tx: DbOrTx, orgIds: string[], from: Date, now = new Date()): Promise<void> {
  const ids = [...new Set(orgIds)];
  if (ids.length === 0) return;
  // A backdated change re-evaluates the month it reaches only up to the previous month: older
  // months hold no suspension, and their alerts come from late usage, not from history edits.
  const earliest = addMonths(monthOf(now), -1);
  const start = monthOf(from < now ? from : now);
  const months = monthsBetween(start > earliest ? start : earliest, monthOf(now));
  const b = budgets;
  const a = agentAssignments;
  const r = usageMonthTotals;
  const list = sql.join(
    ids.map((id) => sql`(${id}::uuid)`),
    sql`, `,
  );
  const concerned = await rows<{ org_id: string }>(
    tx,
    sql`select o.id::text as org_id from (values ${list}) as o(id)
        where exists (select 1 from ${b} where ${b.deletedAt} is null and (
          (${b.agentId} is null and ${b.orgId} = o.id)
          or ${b.agentId} in (select ${agents.id} from ${agents} where ${agents.orgId} = o.id)
          or ${b.agentId} in (select ${a.agentId} from ${a} where ${a.orgId} = o.id and (${a.endsAt} is null or ${a.endsAt} > ${monthStart(months[0]!).toISOString()}::timestamptz))
          or ${b.agentId} in (select ${r.agentId} from ${r} where ${r.orgId} = o.id and ${r.month} >= ${`${months[0]}-01`}::date)
        ))`,
  );
  const pairs = new Map<string, { org_id: string; month: string }>();
  for (const { org_id } of concerned) for (const month of months) pairs.set(key(org_id, month), { org_id, month });
  await enqueue(tx, pairs);
}
