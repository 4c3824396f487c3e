import { and, asc, desc, eq, gte, inArray, isNull } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Tx } from "../../../db/client";
import { agentAssignments, agentRatePeriods, type AgentStatus, agentStatusPeriods, invoices, organizations, orgRatePeriods, orgStatusPeriods } from "../../../db/schema";
import { AppError, invalidField } from "../../errors";
import { addMonths, monthOf, monthStart } from "../../shared/time";
import * as evaluations from "../evaluations/service";
import type { AgentRow, OrgRow } from "../tenancy/service";

/**
 * Interval histories: an organization's status and default rate, an agent's assignment, custom
 * rate and status. Each is a table of half-open intervals [starts_at, ends_at) with one open
 * interval per owner and no overlaps (database constraints). Every write to any of them goes
 * through `apply` below, and so through `assertOpen`: the one place where the time of a change is
 * checked against every bound (docs/billing.md, "Changing the past"). The services call the
 * use-case functions at the bottom (`startOrg`, `changeOrg`, `startAgent`, `changeAgent`,
 * `moveAgent`); nothing else writes these tables.
 */

/** The request field that carries a change's time, named in errors. */
export type TimeField = "effective_at" | "created_at";

/** A time before which a change may not take effect, and how an error names it. */
interface Bound {
  at: Date;
  what: string;
}

type PeriodTable = PgTable & {
  id: AnyPgColumn<{ data: string; notNull: true }>;
  startsAt: AnyPgColumn<{ data: Date; notNull: true }>;
  endsAt: AnyPgColumn<{ data: Date }>;
};

interface History<V> {
  /** How an error names the start of the open interval. */
  last: string;
  /** The owner's open interval, locked until the transaction ends. */
  open(tx: Tx, owner: string): Promise<{ id: string; startsAt: Date } | undefined>;
  close(tx: Tx, id: string, at: Date): Promise<unknown>;
  insert(tx: Tx, owner: string, at: Date, value: V): Promise<unknown>;
}

/** One history table; `row` builds its insert from the owner, the start and the value, typed by the table. */
function history<T extends PeriodTable, V>(table: T, ownerColumn: AnyPgColumn<{ data: string }>, last: string, row: (owner: string, startsAt: Date, value: V) => T["$inferInsert"]): History<V> {
  const t: PeriodTable = table;
  return {
    last,
    async open(tx, owner) {
      const [open] = await tx.select({ id: t.id, startsAt: t.startsAt }).from(t).where(and(eq(ownerColumn, owner), isNull(t.endsAt))).for("update");
      return open;
    },
    close: (tx, id, at) => tx.update(t).set({ endsAt: at }).where(eq(t.id, id)),
    insert: (tx, owner, at, value) => tx.insert(t).values(row(owner, at, value)),
  };
}

const HISTORIES = {
  orgStatus: history(orgStatusPeriods, orgStatusPeriods.orgId, "the organization's last status change", (orgId, startsAt, isActive: boolean) => ({ orgId, isActive, startsAt })),
  orgRate: history(orgRatePeriods, orgRatePeriods.orgId, "the organization's last rate change", (orgId, startsAt, rate: string) => ({ orgId, rate, startsAt })),
  assignment: history(agentAssignments, agentAssignments.agentId, "the start of the agent's current assignment", (agentId, startsAt, orgId: string) => ({ agentId, orgId, startsAt })),
  agentRate: history(agentRatePeriods, agentRatePeriods.agentId, "the agent's last rate change", (agentId, startsAt, rate: string | null) => ({ agentId, rate, startsAt })),
  agentStatus: history(agentStatusPeriods, agentStatusPeriods.agentId, "the agent's last status change", (agentId, startsAt, status: AgentStatus) => ({ agentId, status, startsAt })),
};

/** What a change does to one history. */
interface Step {
  /** How an error names the start of the open interval, when that interval bounds the change. */
  last: string;
  /** Reads (and locks) the open interval whose start bounds the change, if the step has one. */
  open(tx: Tx): Promise<{ id: string; startsAt: Date } | undefined>;
  write(tx: Tx, open: { id: string } | undefined, at: Date): Promise<void>;
}

/** Closes the owner's open interval at the change's time and opens the next one with `value`. */
function roll<V>(h: History<V>, owner: string, value: V): Step {
  return {
    last: h.last,
    open: (tx) => h.open(tx, owner),
    async write(tx, open, at) {
      if (open) await h.close(tx, open.id, at);
      await h.insert(tx, owner, at, value);
    },
  };
}

/** Opens an owner's first interval (at creation): there is nothing to close. */
function first<V>(h: History<V>, owner: string, value: V): Step {
  return { last: h.last, open: async () => undefined, write: async (tx, _open, at) => void (await h.insert(tx, owner, at, value)) };
}

/** Writes nothing, but the open interval's start still bounds the change (and stays locked). */
function boundedBy<V>(h: History<V>, owner: string): Step {
  return { last: h.last, open: (tx) => h.open(tx, owner), write: async () => {} };
}

interface Change {
  /** When the change takes effect. */
  at: Date;
  field: TimeField;
  /** The organizations whose past the change writes (a move writes both the old and the new one's). */
  orgIds: string[];
  /** Bounds besides the starts of the open intervals the steps read. */
  bounds: Bound[];
  steps: Step[];
}

/**
 * The one gate before any history is written: the time of a change may be neither in the future
 * nor before any of its bounds (400 naming the latest bound crossed, which is the earliest time
 * allowed), nor inside a closed month of any of `orgIds` (409 `period_closed`). Every history
 * write reaches it, through `apply`, with the transaction and the rows of every history involved
 * already locked.
 */
export async function assertOpen(tx: Tx, change: { orgIds: string[]; at: Date; field: TimeField; bounds: Bound[] }): Promise<void> {
  if (change.at.getTime() > Date.now()) throw invalidField(change.field, "must not be in the future");
  let crossed: Bound | undefined;
  for (const b of change.bounds) if (change.at < b.at && (!crossed || b.at > crossed.at)) crossed = b;
  if (crossed) throw invalidField(change.field, `must not be before ${crossed.what} (${crossed.at.toISOString()})`);
  const closed = await latestClosedMonth(tx, change.orgIds, monthOf(change.at));
  if (closed) {
    const earliest = monthStart(addMonths(closed.month, 1)).toISOString();
    throw new AppError(
      "PERIOD_CLOSED",
      `${closed.month} is closed (invoice ${closed.number}); a change may take effect from ${earliest} on`,
      { errors: [{ path: change.field, message: `must not be before ${earliest}: ${closed.month} is invoiced (${closed.number})` }], period: { month: closed.month, invoice_number: closed.number, earliest_allowed: earliest } },
    );
  }
}

/**
 * The latest month from `from` on that has a finalized invoice for one of the organizations (a
 * change at a time in `from` reaches every later month too), or undefined. The organizations' rows
 * are locked `FOR SHARE` first, in id order: finalizing locks its organization's row against them,
 * so a change and a finalization of the same organization never interleave (the change either
 * lands before the invoice is computed, or sees the invoice and is refused).
 */
export async function latestClosedMonth(tx: Tx, orgIds: string[], from: string): Promise<{ month: string; number: string } | undefined> {
  const ids = [...new Set(orgIds)];
  if (ids.length === 0) return undefined;
  await tx.select({ id: organizations.id }).from(organizations).where(inArray(organizations.id, ids)).orderBy(asc(organizations.id)).for("share");
  const [row] = await tx
    .select({ month: invoices.month, number: invoices.number })
    .from(invoices)
    .where(and(inArray(invoices.orgId, ids), eq(invoices.status, "finalized"), gte(invoices.month, `${from}-01`)))
    .orderBy(desc(invoices.month))
    .limit(1);
  return row ? { month: row.month.slice(0, 7), number: row.number } : undefined;
}

/** Reads every open interval involved (locking it), passes the gate, then writes: nothing is written unless every bound holds. */
async function apply(tx: Tx, change: Change): Promise<void> {
  const opened = [];
  const bounds = [...change.bounds];
  for (const step of change.steps) {
    const open = await step.open(tx);
    if (open) bounds.push({ at: open.startsAt, what: step.last });
    opened.push(open);
  }
  await assertOpen(tx, { orgIds: change.orgIds, at: change.at, field: change.field, bounds });
  for (const [i, step] of change.steps.entries()) await step.write(tx, opened[i], change.at);
  // Every history change moves revenue from `at` on, and with it margin-floor allowances and suspensions.
  await evaluations.queueForRevenue(tx, change.orgIds, change.at);
}

const orgCreation = (org: Pick<OrgRow, "createdAt">, what = "the organization's creation"): Bound => ({ at: org.createdAt, what });

// ---------------------------------------------------------------------------------------------
// Use cases. Callers lock the organization or agent row first (see the services).

/** Opens a new organization's status and rate histories at its creation. */
export function startOrg(tx: Tx, org: OrgRow): Promise<void> {
  return apply(tx, {
    at: org.createdAt,
    field: "created_at",
    orgIds: [org.id],
    bounds: [],
    steps: [first(HISTORIES.orgStatus, org.id, org.isActive), first(HISTORIES.orgRate, org.id, org.billingRatePerAgent)],
  });
}

/**
 * Changes an organization's status and/or default rate from `at`: never before its last change of
 * either kind being changed, nor before its creation.
 */
export function changeOrg(tx: Tx, org: OrgRow, change: { isActive?: boolean; rate?: string }, at: Date): Promise<void> {
  const steps: Step[] = [];
  if (change.isActive !== undefined) steps.push(roll(HISTORIES.orgStatus, org.id, change.isActive));
  if (change.rate !== undefined) steps.push(roll(HISTORIES.orgRate, org.id, change.rate));
  return apply(tx, { at, field: "effective_at", orgIds: [org.id], bounds: [orgCreation(org)], steps });
}

/** Opens a new agent's assignment (to `org`), rate (none: the default) and status histories at its creation. */
export function startAgent(tx: Tx, agent: AgentRow, org: OrgRow): Promise<void> {
  return apply(tx, {
    at: agent.createdAt,
    field: "created_at",
    orgIds: [org.id],
    bounds: [orgCreation(org)],
    steps: [first(HISTORIES.assignment, agent.id, org.id), first(HISTORIES.agentRate, agent.id, null), first(HISTORIES.agentStatus, agent.id, agent.status)],
  });
}

/**
 * Changes an agent's custom rate and/or status from `at`. A rate or a status belongs to the agent's
 * current assignment, so besides its own last change it may not reach before the start of that
 * assignment: an organization never rewrites a past it did not have the agent in.
 */
export async function changeAgent(tx: Tx, agent: AgentRow, change: { rate?: string | null; status?: AgentStatus }, at: Date): Promise<void> {
  const [org] = await tx.select({ createdAt: organizations.createdAt }).from(organizations).where(eq(organizations.id, agent.orgId));
  const steps: Step[] = [boundedBy(HISTORIES.assignment, agent.id)];
  if (change.rate !== undefined) steps.push(roll(HISTORIES.agentRate, agent.id, change.rate));
  if (change.status !== undefined) steps.push(roll(HISTORIES.agentStatus, agent.id, change.status));
  return apply(tx, { at, field: "effective_at", orgIds: [agent.orgId], bounds: org ? [orgCreation(org)] : [], steps });
}

/**
 * Moves an agent to `target` from `at`: closes its current assignment and opens one in the target,
 * clearing its custom rate when `clearRate`. The move may reach neither before the start of the
 * current assignment nor before the agent's last rate or status change (they belong to the
 * assignment the move ends), nor before the target's creation.
 */
export function moveAgent(tx: Tx, agent: AgentRow, target: OrgRow, at: Date, { clearRate }: { clearRate: boolean }): Promise<void> {
  return apply(tx, {
    at,
    field: "effective_at",
    orgIds: [agent.orgId, target.id],
    bounds: [orgCreation(target, "the target organization's creation")],
    steps: [
      roll(HISTORIES.assignment, agent.id, target.id),
      clearRate ? roll(HISTORIES.agentRate, agent.id, null) : boundedBy(HISTORIES.agentRate, agent.id),
      boundedBy(HISTORIES.agentStatus, agent.id),
    ],
  });
}
