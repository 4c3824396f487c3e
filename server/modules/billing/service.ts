import { type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import { type DbOrTx, preparedRows, prerendered, rows } from "../../../db/client";
import { agentAssignments, agentRatePeriods, agents, agentStatusPeriods, fxRates, invoiceLines, invoices, organizations, orgInvoicing, orgRatePeriods, orgStatusPeriods, usageMonthTotals } from "../../../db/schema";
import { authorize, seesCosts, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { validationError } from "../../errors";
import { dec, formatScaled, parseScaled, round, sub, sum, trimDecimal } from "../../shared/money";
import { addMonths, monthEnd, monthOf, monthsBetween, monthStart } from "../../shared/time";
import { forReports } from "../reads/service";
import { findOrg } from "../tenancy/service";
import { isUuid } from "../../shared/uuid";
import { agentUsageCharge, buildLine, chargedMonth, type ClosedMonth, fxForMonth, type Line, marginPct, type MonthFigures, sumLines, sumMonths, toCsv, toUsd, type UsageTotals, usageCharges } from "./lines";
import { type AgentHistory, agentRevenue, type OrgHistory, type Period, secondsOf } from "./proration";
import type { AgentMonthOutput, BillingRange } from "./schema";

/** The oldest month a range may start at, and the longest range, in months. */
const FIRST_MONTH = "2000-01";
const MAX_MONTHS = 120;

export interface Range {
  from: string;
  to: string;
  months: string[];
}

/**
 * Resolves a month range against today: `months=N` is the last N months including the current
 * one; `from`/`to` default to the 12 months ending with the current one. Future months and ranges
 * longer than 120 months are refused.
 */
export function resolveRange(input: BillingRange, now = new Date()): Range {
  const current = monthOf(now);
  let from: string;
  let to: string;
  if (input.months !== undefined) {
    to = current;
    from = addMonths(current, -(input.months - 1));
  } else {
    to = input.to ?? current;
    from = input.from ?? addMonths(to, -11);
  }
  const errors = [];
  if (to > current) errors.push({ path: input.to !== undefined ? "to" : "from", message: `must not be after the current month (${current})` });
  if (from > to) errors.push({ path: "from", message: "must not be after to" });
  if (from < FIRST_MONTH) errors.push({ path: "from", message: `must not be before ${FIRST_MONTH}` });
  if (errors.length === 0 && monthsBetween(from, to).length > MAX_MONTHS) errors.push({ path: "from", message: `the range must span at most ${MAX_MONTHS} months` });
  if (errors.length > 0) throw validationError(errors);
  return { from, to, months: monthsBetween(from, to) };
}

// ---------------------------------------------------------------------------------------------
// Loading: the period tables and the rollups of a set of organizations over a range. Never raw
// events. SQL names every table and column through its Drizzle object, so a renamed column fails
// the type check, not a report.

const epoch = (column: AnyPgColumn) => sql`floor(extract(epoch from ${column}))::bigint::text`;
/**
 * "is one of these organizations", written so that the statement's text does not change with how
 * many there are: `= $1` for one, `= any($1::uuid[])` for several. Each text is a named prepared
 * statement on every connection (`preparedRows`), so a list of parameters, one per organization,
 * made a new one for every count the overview met, kept until the connection closed.
 */
function oneOf(ids: string[]): SQL {
  if (ids.length === 1) return sql`= ${ids[0]}::uuid`;
  for (const id of ids) if (!isUuid(id)) throw new Error(`Not an organization id: ${JSON.stringify(id)}`);
  return sql`= any(${`{${ids.join(",")}}`}::uuid[])`;
}
const toSec = (v: string | null) => (v === null ? null : Number(v));

interface PeriodRow {
  owner: string;
  s: string;
  e: string | null;
}

export interface OrgInfo {
  id: string;
  name: string;
  slug: string;
  currency: string;
  is_active: boolean;
  is_internal: boolean;
  is_deleted: boolean;
}

interface OrgData {
  org: OrgInfo;
  history: OrgHistory;
  agents: Map<string, { name: string; history: AgentHistory }>;
  /** `${agentId}|${month}` → usage. */
  usage: Map<string, UsageTotals>;
  fx: { effectiveFrom: string; rate: string }[];
  /** Month → model → exact USD cost: what the month's usage charges are computed from. */
  modelCosts: Map<string, Map<string, string>>;
  /** `${agentId}|${month}` → model → exact USD cost: what an agent's usage charge is computed from. */
  agentModelCosts: Map<string, Map<string, string>>;
  /** The usage markup in percent; null = usage not billed. */
  markup: string | null;
  /** Month → its finalized invoice (the month is closed). */
  closed: Map<string, ClosedMonth>;
}

/** An interval history as billing reads it: whose it is, its value as SQL, its bounds. */
interface History {
  table: PgTable;
  owner: AnyPgColumn;
  value: SQL;
  startsAt: AnyPgColumn;
  endsAt: AnyPgColumn;
}

const HISTORIES = {
  orgStatus: { table: orgStatusPeriods, owner: orgStatusPeriods.orgId, value: sql`${orgStatusPeriods.isActive}`, startsAt: orgStatusPeriods.startsAt, endsAt: orgStatusPeriods.endsAt },
  orgRate: { table: orgRatePeriods, owner: orgRatePeriods.orgId, value: sql`${orgRatePeriods.rate}::text`, startsAt: orgRatePeriods.startsAt, endsAt: orgRatePeriods.endsAt },
  agentRate: { table: agentRatePeriods, owner: agentRatePeriods.agentId, value: sql`${agentRatePeriods.rate}::text`, startsAt: agentRatePeriods.startsAt, endsAt: agentRatePeriods.endsAt },
  agentStatus: { table: agentStatusPeriods, owner: agentStatusPeriods.agentId, value: sql`${agentStatusPeriods.status}`, startsAt: agentStatusPeriods.startsAt, endsAt: agentStatusPeriods.endsAt },
} satisfies Record<string, History>;

/** The range as the bounds queries compare with: instants for periods, first days for month rollups. */
interface Bounds {
  startIso: string;
  endIso: string;
  firstMonth: string;
  endMonth: string;
}

function boundsOf(range: Range): Bounds {
  const endIso = monthEnd(range.to).toISOString();
  return { startIso: monthStart(range.from).toISOString(), endIso, firstMonth: `${range.from}-01`, endMonth: endIso.slice(0, 10) };
}

/** Intervals [startsAt, endsAt) that overlap the range. */
const overlapping = (startsAt: AnyPgColumn, endsAt: AnyPgColumn, b: Bounds) =>
  sql`${startsAt} < ${b.endIso}::timestamptz and (${endsAt} is null or ${endsAt} > ${b.startIso}::timestamptz)`;

/** `select … from <history> where <owner>`, rendered once per history (see `prerendered`). */
const periodsSelect = (h: History) =>
  prerendered(sql`select ${h.owner}::text as owner, ${h.value} as v, ${epoch(h.startsAt)} as s, ${epoch(h.endsAt)} as e from ${h.table} where ${h.owner}`);
const PERIODS_SELECT = new Map<History, SQL>(Object.values(HISTORIES).map((h) => [h, periodsSelect(h)]));

/** The periods of `h` whose owner matches `owners` and that overlap the range, oldest first. */
function periodsOf<T>(db: DbOrTx, h: History, owners: SQL, b: Bounds) {
  return preparedRows<PeriodRow & { v: T }>(db, sql`${PERIODS_SELECT.get(h)!} ${owners} and ${overlapping(h.startsAt, h.endsAt, b)} order by ${h.startsAt}`);
}

function group<T>(list: (PeriodRow & { v: T })[]): Map<string, Period<T>[]> {
  const out = new Map<string, Period<T>[]>();
  for (const r of list) {
    const arr = out.get(r.owner) ?? [];
    arr.push({ start: Number(r.s), end: toSec(r.e), value: r.v });
    out.set(r.owner, arr);
  }
  return out;
}

/** An agent's usage in one organization and month: its sums over models, and each model's cost when the organization bills usage. */
interface UsageRow {
  org: string;
  agent: string;
  month: string;
  /** The organization's usage markup as this statement read it; null when it does not bill usage. */
  markup: string | null;
  models: [model: string, cost: string][] | null;
  events: string;
  unpriced: string;
  input: string;
  output: string;
  cr: string;
  cw: string;
  cost: string;
}

/** USD costs are numeric(38, 18): summed exactly as integers of 10^-18 USD. */
const COST_PLACES = 18;

/**
 * Every row the organizations' figures over the range are computed from, in one wave of queries:
 * the agents' own histories are selected by the same conditions that pick the agents (assigned to
 * one of the organizations in the range, or with usage there), so nothing waits for an earlier answer.
 */
const asg = agentAssignments;
const rollups = usageMonthTotals;
/** The static parts of the statements below, rendered once (see `prerendered`). */
const LOAD = {
  agentsAssigned: prerendered(sql`select ${asg.agentId} from ${asg} where ${asg.orgId}`),
  agentsWithUsage: prerendered(sql`select ${rollups.agentId} from ${rollups} where ${rollups.orgId}`),
  assignments: prerendered(sql`select ${asg.orgId}::text as owner, ${asg.agentId}::text as agent, ${epoch(asg.startsAt)} as s, ${epoch(asg.endsAt)} as e from ${asg} where ${asg.orgId}`),
  // One row per agent and month (the view's keys summed over their models in PostgreSQL, exactly),
  // with the month's cost per model only for an organization that bills usage (`models`: pairs of
  // model and cost), the one thing the usage charges need them for, and the markup they were
  // chosen by (read in the same statement, so the two always agree).
  usage: prerendered(
    sql`select ${rollups.orgId}::text as org, ${rollups.agentId}::text as agent, to_char(${rollups.month}, 'YYYY-MM') as month,
               sum(${rollups.events})::text as events, sum(${rollups.unpricedEvents})::text as unpriced,
               sum(${rollups.inputTokens})::text as input, sum(${rollups.outputTokens})::text as output,
               sum(${rollups.cacheReadTokens})::text as cr, sum(${rollups.cacheWriteTokens})::text as cw, sum(${rollups.costUsd})::text as cost,
               max(${orgInvoicing.usageMarkupPct})::text as markup,
               json_agg(json_build_array(${rollups.model}, ${rollups.costUsd}::text)) filter (where ${orgInvoicing.orgId} is not null) as models
        from ${rollups} left join ${orgInvoicing} on ${orgInvoicing.orgId} = ${rollups.orgId} and ${orgInvoicing.usageMarkupPct} is not null
        where ${rollups.orgId}`,
  ),
  fx: prerendered(
    sql`select ${fxRates.currency} as currency, ${fxRates.effectiveFrom}::text as effective_from, ${fxRates.rate}::text as rate
        from ${fxRates} order by ${fxRates.currency}, ${fxRates.effectiveFrom}`,
  ),
  names: prerendered(sql`select ${agents.id}::text as id, ${agents.name} as name from ${agents} where ${agents.id}`),
  markups: prerendered(sql`select ${orgInvoicing.orgId}::text as org, ${orgInvoicing.usageMarkupPct}::text as pct from ${orgInvoicing} where ${orgInvoicing.orgId}`),
  closed: prerendered(
    sql`select ${invoices.orgId}::text as org, to_char(${invoices.month}, 'YYYY-MM') as month, ${invoices.number} as number,
               coalesce(sum(${invoiceLines.amount}) filter (where ${invoiceLines.kind} = 'seat'), 0)::text as seat,
               coalesce(sum(${invoiceLines.amount}) filter (where ${invoiceLines.kind} = 'usage'), 0)::text as usage
        from ${invoices} left join ${invoiceLines} on ${invoiceLines.invoiceId} = ${invoices.id}
        where ${invoices.status} = 'finalized' and ${invoices.orgId}`,
  ),
};

/**
 * Every row the organizations' figures over the range are computed from, in one wave of queries:
 * the agents' own histories are selected by the same conditions that pick the agents (assigned to
 * one of the organizations in the range, or with usage there), so nothing waits for an earlier answer.
 */
async function loadRows(db: DbOrTx, orgIds: string[], b: Bounds) {
  const orgs = oneOf(orgIds);
  const assigned = sql`${orgs} and ${overlapping(asg.startsAt, asg.endsAt, b)}`;
  const inRange = sql`${orgs} and ${rollups.month} >= ${b.firstMonth}::date and ${rollups.month} < ${b.endMonth}::date`;
  const agentSet = sql`in (${LOAD.agentsAssigned} ${assigned} union ${LOAD.agentsWithUsage} ${inRange})`;
  const closedInRange = sql`${orgs} and ${invoices.month} >= ${b.firstMonth}::date and ${invoices.month} < ${b.endMonth}::date`;
  const [status, orgRates, assignments, usage, fx, agentRates, agentStatuses, names, markups, closed] = await Promise.all([
    periodsOf<boolean>(db, HISTORIES.orgStatus, orgs, b),
    periodsOf<string>(db, HISTORIES.orgRate, orgs, b),
    preparedRows<PeriodRow & { agent: string }>(db, sql`${LOAD.assignments} ${assigned} order by ${asg.startsAt}`),
    preparedRows<UsageRow>(db, sql`${LOAD.usage} ${inRange} group by 1, 2, 3`),
    preparedRows<{ currency: string; effective_from: string; rate: string }>(db, LOAD.fx),
    periodsOf<string | null>(db, HISTORIES.agentRate, agentSet, b),
    periodsOf<string>(db, HISTORIES.agentStatus, agentSet, b),
    preparedRows<{ id: string; name: string }>(db, sql`${LOAD.names} ${agentSet}`),
    preparedRows<{ org: string; pct: string | null }>(db, sql`${LOAD.markups} ${orgs}`),
    preparedRows<{ org: string; month: string; number: string; seat: string; usage: string }>(db, sql`${LOAD.closed} ${closedInRange} group by 1, 2, 3`),
  ]);
  return { status, orgRates, assignments, usage, fx, agentRates, agentStatuses, names, markups, closed };
}

type LoadedRows = Awaited<ReturnType<typeof loadRows>>;

/** The loaded histories by owner, and agent names by id. */
interface ByOwner {
  status: Map<string, Period<boolean>[]>;
  orgRates: Map<string, Period<string>[]>;
  agentRates: Map<string, Period<string | null>[]>;
  agentStatuses: Map<string, Period<string>[]>;
  names: Map<string, string>;
}

/** One organization's histories, agents and usage, picked out of rows loaded for several. */
function assemble(org: OrgInfo, loaded: LoadedRows, by: ByOwner): OrgData {
  const agentsOfOrg = new Map<string, { name: string; history: AgentHistory }>();
  const ensure = (agentId: string) => {
    let entry = agentsOfOrg.get(agentId);
    if (!entry) {
      entry = {
        name: by.names.get(agentId) ?? agentId,
        history: { assignments: [], rates: by.agentRates.get(agentId) ?? [], statuses: by.agentStatuses.get(agentId) ?? [] },
      };
      agentsOfOrg.set(agentId, entry);
    }
    return entry;
  };
  for (const a of loaded.assignments) if (a.owner === org.id) ensure(a.agent).history.assignments.push({ start: Number(a.s), end: toSec(a.e), value: true });
  // An agent-month's usage is summed over its models in PostgreSQL; the organization's cost per
  // model and month (for its usage charges) is its agents' added, exactly, in integers of 10^-18 USD.
  const usage = new Map<string, UsageTotals>();
  const monthModelCosts = new Map<string, Map<string, bigint>>();
  const agentModelCosts = new Map<string, Map<string, string>>();
  // The markup the usage rows' costs per model were read with; the markups statement's for an
  // organization without usage in the range.
  let markup: string | null = loaded.markups.find((m) => m.org === org.id)?.pct ?? null;
  let usageSeen = false;
  for (const u of loaded.usage) {
    if (u.org !== org.id) continue;
    if (!usageSeen) {
      markup = u.markup;
      usageSeen = true;
    }
    ensure(u.agent);
    const key = `${u.agent}|${u.month}`;
    usage.set(key, {
      events: Number(u.events),
      unpriced: Number(u.unpriced),
      inputTokens: Number(u.input),
      outputTokens: Number(u.output),
      cacheReadTokens: Number(u.cr),
      cacheWriteTokens: Number(u.cw),
      costUsd: u.cost,
    });
    if (!u.models) continue;
    const byModel = monthModelCosts.get(u.month) ?? new Map<string, bigint>();
    monthModelCosts.set(u.month, byModel);
    for (const [model, cost] of u.models) byModel.set(model, (byModel.get(model) ?? 0n) + parseScaled(cost, COST_PLACES));
    agentModelCosts.set(key, new Map(u.models));
  }
  const modelCosts = new Map<string, Map<string, string>>();
  for (const [month, byModel] of monthModelCosts) {
    modelCosts.set(month, new Map([...byModel].map(([model, cost]) => [model, trimDecimal(formatScaled(cost, COST_PLACES))])));
  }
  return {
    org,
    history: { active: by.status.get(org.id) ?? [], rates: by.orgRates.get(org.id) ?? [] },
    agents: agentsOfOrg,
    usage,
    fx: loaded.fx.filter((f) => f.currency === org.currency).map((f) => ({ effectiveFrom: f.effective_from, rate: f.rate })),
    modelCosts,
    agentModelCosts,
    markup,
    closed: new Map(loaded.closed.filter((c) => c.org === org.id).map((c) => [c.month, { number: c.number, seat: c.seat, usage: c.usage }])),
  };
}

/** The histories, agents, usage and FX rates each organization's figures over the range need. */
async function loadOrgData(db: DbOrTx, orgs: OrgInfo[], range: Range): Promise<OrgData[]> {
  if (orgs.length === 0) return [];
  const loaded = await loadRows(db, orgs.map((o) => o.id), boundsOf(range));
  const by: ByOwner = {
    status: group(loaded.status),
    orgRates: group(loaded.orgRates),
    agentRates: group(loaded.agentRates),
    agentStatuses: group(loaded.agentStatuses),
    names: new Map(loaded.names.map((n) => [n.id, n.name])),
  };
  return orgs.map((org) => assemble(org, loaded, by));
}

// ---------------------------------------------------------------------------------------------
// Computing: lines per agent and month, then month figures.

interface Computed {
  lines: Line[];
  months: (MonthFigures & { month: string })[];
  totals: MonthFigures;
}

function compute(data: OrgData, range: Range, now: Date): Computed {
  const nowSec = secondsOf(now);
  const fxBy = new Map(range.months.map((m) => [m, fxForMonth(data.org.currency, monthEnd(m).toISOString().slice(0, 10), data.fx)]));
  const lines: Line[] = [];
  const counted = new Map<string, Set<string>>();
  for (const [agentId, agent] of data.agents) {
    const revenue = new Map(agentRevenue(data.history, agent.history, range.months, nowSec).map((r) => [r.month, r]));
    for (const month of range.months) {
      const rev = revenue.get(month);
      const usage = data.usage.get(`${agentId}|${month}`);
      if (!rev && !usage) continue;
      const line = buildLine({
        month,
        agentId,
        agentName: agent.name,
        revenue: rev,
        usage,
        fx: fxBy.get(month) ?? null,
        isPartial: now < monthEnd(month),
        fallbackRate: "0",
        usageCharge: agentUsageCharge(data.agentModelCosts.get(`${agentId}|${month}`), fxBy.get(month) ?? null, data.markup),
      });
      lines.push(line);
      if ((rev?.billedSeconds ?? 0) > 0 || (usage?.events ?? 0) > 0) {
        const set = counted.get(month) ?? new Set<string>();
        set.add(agentId);
        counted.set(month, set);
      }
    }
  }
  lines.sort((a, b) => (a.month === b.month ? a.agent_name.localeCompare(b.agent_name) || a.agent_id.localeCompare(b.agent_id) : a.month < b.month ? -1 : 1));
  const months = range.months.map((month) => ({
    month,
    ...sumLines(
      lines.filter((l) => l.month === month),
      counted.get(month)?.size ?? 0,
      fxBy.get(month) ?? null,
      now < monthEnd(month),
    ),
  }));
  const allAgents = new Set<string>();
  for (const set of counted.values()) for (const a of set) allAgents.add(a);
  return { lines, months, totals: sumMonths(months, allAgents.size) };
}

/**
 * The month figures of `computed` with revenue as billed: usage charges added for an organization
 * that bills usage, and a closed month's revenue taken from its finalized invoice (the cost stays as
 * now known). Totals are the sums of those months.
 */
function charged(data: OrgData, computed: Computed) {
  const months = computed.months.map((m) => {
    const fx = fxForMonth(data.org.currency, monthEnd(m.month).toISOString().slice(0, 10), data.fx);
    return chargedMonth(m, usageCharges(data.modelCosts.get(m.month), fx, data.markup), data.closed.get(m.month) ?? null);
  });
  return { months, totals: sumMonths(months, computed.totals.agent_count) };
}

/** One organization's figures over a range: what they are computed from, its lines and month figures, and the months as billed. */
interface OrgFigures {
  data: OrgData;
  computed: Computed;
  billed: ReturnType<typeof charged>;
}

/**
 * The months of `range` of these organizations, each loaded and computed once by the billing rules:
 * the one computation behind the summary, the records, the overview, budgets' margin floors and the
 * insights, so they all report the same revenue (seat revenue plus usage charges; a closed month
 * as its invoice billed it).
 */
async function figuresOf(db: DbOrTx, orgs: OrgInfo[], range: Range, now: Date): Promise<OrgFigures[]> {
  return (await loadOrgData(db, orgs, range)).map((data) => {
    const computed = compute(data, range, now);
    return { data, computed, billed: charged(data, computed) };
  });
}

/** A range of one month, unchecked (callers pass a month they have already validated or computed). */
const monthRange = (month: string): Range => ({ from: month, to: month, months: [month] });

/**
 * The agent-month lines of one organization over a range, every field included, read through
 * `db` (a transaction when the caller holds locks): what invoices build their seat lines from, so
 * an invoice and the billing summary share one computation.
 */
export async function linesOf(db: DbOrTx, org: OrgInfo, range: Range, now = new Date()): Promise<Line[]> {
  const [figures] = await figuresOf(db, [org], range, now);
  return figures!.computed.lines;
}

// ---------------------------------------------------------------------------------------------
// What a caller may see.

const MONTH_COST_FIELDS = ["total_cost", "total_cost_usd", "fx_rate", "margin", "margin_pct", "unpriced_events"] as const;
const LINE_COST_FIELDS = ["token_cost", "token_cost_usd", "unpriced_events", "margin", "margin_pct"] as const;

/** Drops cost fields for callers that may not see token cost or margin (the keys are absent, not null). */
function visible<T extends object>(ctx: Ctx, value: T, fields: readonly string[]): T {
  if (seesCosts(ctx.principal)) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const f of fields) delete copy[f];
  return copy as T;
}

/** The AgentMonth fields, in the order of the API (and of the CSV export). */
const RECORD_COLUMNS = [
  "month",
  "agent_id",
  "agent_name",
  "is_partial",
  "rate",
  "rate_source",
  "billed_days",
  "revenue",
  "seat_revenue",
  "usage_revenue",
  "projected_revenue",
  "token_cost",
  "token_cost_usd",
  "input_tokens",
  "output_tokens",
  "cache_tokens",
  "unpriced_events",
  "margin",
  "margin_pct",
] as const satisfies readonly (keyof Line)[];

function recordOf(ctx: Ctx, line: Line): AgentMonthOutput {
  const ordered: Record<string, unknown> = {};
  for (const c of RECORD_COLUMNS) ordered[c] = line[c];
  return visible(ctx, ordered as AgentMonthOutput, LINE_COST_FIELDS);
}

async function orgInfo(ctx: Ctx, ref: string): Promise<OrgInfo> {
  const row = await findOrg(ctx.db, ctx, ref);
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    currency: row.currency,
    is_active: row.isActive,
    is_internal: row.isInternal,
    is_deleted: row.deletedAt !== null,
  };
}

/** Organizations by id (deleted ones included), for callers that already decided who may see them. No tenant filter. */
async function orgsById(db: DbOrTx, ids: string[]): Promise<OrgInfo[]> {
  if (ids.length === 0) return [];
  return rows<OrgInfo>(
    db,
    sql`select ${organizations.id}::text as id, ${organizations.name} as name, ${organizations.slug} as slug, ${organizations.currency} as currency,
               ${organizations.isActive} as is_active, ${organizations.isInternal} as is_internal, (${organizations.deletedAt} is not null) as is_deleted
        from ${organizations} where ${organizations.id} ${oneOf(ids)}`,
  );
}

async function computeFor(ctx: Ctx, ref: string, input: BillingRange, now = new Date()) {
  const range = resolveRange(input, now);
  const org = await orgInfo(ctx, ref);
  const [figures] = await figuresOf(ctx.db, [org], range, now);
  return { org, range, ...figures! };
}

// ---------------------------------------------------------------------------------------------
// Use cases.

/**
 * Month-by-month revenue, token cost (USD and org currency), FX rate, margin and tokens of one
 * organization over a range, plus totals; every figure is a sum of rounded agent-month lines.
 */
export async function summary({ ctx, input }: { ctx: Ctx; input: BillingRange & { id: string } }) {
  authorize(ctx.principal, "billing.read");
  ctx = await forReports(ctx);
  const { org, range, billed } = await computeFor(ctx, input.id, input);
  return {
    organization_id: org.id,
    currency: org.currency,
    from: range.from,
    to: range.to,
    summary: billed.months.map((m) => visible(ctx, m, MONTH_COST_FIELDS)),
    totals: visible(ctx, billed.totals, MONTH_COST_FIELDS),
  };
}

/** One line per agent and month (agents that have since moved away included), by month then name. */
export async function records({ ctx, input }: { ctx: Ctx; input: BillingRange & { id: string } }) {
  authorize(ctx.principal, "billing.read");
  ctx = await forReports(ctx);
  const { org, range, computed } = await computeFor(ctx, input.id, input);
  return {
    organization_id: org.id,
    currency: org.currency,
    from: range.from,
    to: range.to,
    records: computed.lines.map((l) => recordOf(ctx, l)),
  };
}

/** The `records` of a range as a downloadable file: CSV (one row per record, same fields) or JSON. */
export async function exportFile({ ctx, input }: { ctx: Ctx; input: BillingRange & { id: string; format: "csv" | "json" } }) {
  authorize(ctx.principal, "billing.export");
  ctx = await forReports(ctx);
  const { org, range, computed } = await computeFor(ctx, input.id, input);
  const recs = computed.lines.map((l) => recordOf(ctx, l));
  const base = `billing-${org.slug}-${range.from}_${range.to}`;
  if (input.format === "json") {
    const body = { organization_id: org.id, currency: org.currency, from: range.from, to: range.to, records: recs };
    return { filename: `${base}.json`, content_type: "application/json; charset=utf-8", content: JSON.stringify(body, null, 2) + "\n" };
  }
  const columns = RECORD_COLUMNS.filter((c) => seesCosts(ctx.principal) || !(LINE_COST_FIELDS as readonly string[]).includes(c));
  return { filename: `${base}.csv`, content_type: "text/csv; charset=utf-8", content: toCsv(columns, recs as unknown as Record<string, unknown>[]) };
}
export { exportFile as export };

/**
 * Every organization's figures for one month (default: the current one), with USD totals across
 * currencies. Deleted organizations appear when they have figures in the month. A caller bound to
 * one organization sees only it, without costs.
 */
export async function overview({ ctx, input }: { ctx: Ctx; input: { month?: string } }) {
  authorize(ctx.principal, "billing.read");
  ctx = await forReports(ctx);
  const now = new Date();
  const month = input.month ?? monthOf(now);
  const range = resolveRange({ from: month, to: month }, now);
  const [only] = await overviews(ctx, range, now);
  return only!;
}

// ---------------------------------------------------------------------------------------------
// Screens: what one screen of the web app shows, from one load and one computation.

/**
 * An organization's Billing tab: the `summary` and the `records` of one range, computed once
 * (the two separate calls would load and compute the same months twice). Same visibility rules.
 */
export async function orgView({ ctx, input }: { ctx: Ctx; input: BillingRange & { id: string } }) {
  authorize(ctx.principal, "billing.read");
  ctx = await forReports(ctx);
  const { org, range, computed, billed } = await computeFor(ctx, input.id, input);
  return {
    organization_id: org.id,
    currency: org.currency,
    from: range.from,
    to: range.to,
    summary: billed.months.map((m) => visible(ctx, m, MONTH_COST_FIELDS)),
    totals: visible(ctx, billed.totals, MONTH_COST_FIELDS),
    records: computed.lines.map((l) => recordOf(ctx, l)),
  };
}

/**
 * The dashboard: the `overview` of each month of a range (default the last 12, the current one
 * included), from one load of the range and one computation per organization instead of one per
 * month. Each month is exactly what `overview` answers for it.
 */
export async function dashboard({ ctx, input }: { ctx: Ctx; input: BillingRange }) {
  authorize(ctx.principal, "billing.read");
  ctx = await forReports(ctx);
  const now = new Date();
  const range = resolveRange(input, now);
  return { from: range.from, to: range.to, months: await overviews(ctx, range, now) };
}

/** Every month of `range` as `overview` shows it, from one load. */
async function overviews(ctx: Ctx, range: Range, now: Date) {
  const tenant = tenantOrgId(ctx.principal);
  // Organizations deleted before the range began have no figures in it.
  const orgRows = await rows<OrgInfo & { deleted_at: string | null }>(
    ctx.db,
    sql`select ${organizations.id}::text as id, ${organizations.name} as name, ${organizations.slug} as slug, ${organizations.currency} as currency,
               ${organizations.isActive} as is_active, ${organizations.isInternal} as is_internal, (${organizations.deletedAt} is not null) as is_deleted,
               ${epoch(organizations.deletedAt)} as deleted_at
        from ${organizations}
        where (${organizations.deletedAt} is null or ${organizations.deletedAt} >= ${monthStart(range.from).toISOString()}::timestamptz)
          ${tenant ? sql`and ${organizations.id} = ${tenant}::uuid` : sql``}
        order by ${organizations.name}, ${organizations.id}`,
  );
  const infos: OrgInfo[] = orgRows.map(({ deleted_at: _deletedAt, ...info }) => info);
  // Whole seconds (floored), which decides "deleted on or after a month's first second" exactly.
  const deletedAt = new Map(orgRows.map((o) => [o.id, toSec(o.deleted_at)]));
  const computed = (await figuresOf(ctx.db, infos, range, now)).map((f) => ({ org: f.data.org, c: { lines: f.computed.lines, months: f.billed.months } }));
  return range.months.map((month, i) => {
    const start = secondsOf(monthStart(month));
    const orgs = computed
      // Like `overview`: an organization deleted before this month began is not in it.
      .filter(({ org }) => {
        const deleted = deletedAt.get(org.id) ?? null;
        return deleted === null || deleted >= start;
      })
      .map(({ org, c }) => {
        const m = c.months[i]!;
        const revenueUsd = toUsd(m.total_revenue, m.fx_rate);
        const projectedUsd = toUsd(m.projected_revenue, m.fx_rate);
        const marginUsd = revenueUsd === null ? null : round(sub(dec(revenueUsd), dec(round(dec(m.total_cost_usd), 2))), 2);
        return { org, m, revenueUsd, projectedUsd, marginUsd, hasFigures: c.lines.some((l) => l.month === month) };
      })
      .filter((o) => !o.org.is_deleted || o.hasFigures);
    return overviewOfMonth(ctx, month, now, orgs);
  });
}

/**
 * One month of the overview from its organizations' figures. USD totals are sums of the
 * organizations' rounded USD figures; an organization whose currency has no FX rate for the month
 * is left out of them and named in `missing_fx`.
 */
function overviewOfMonth(
  ctx: Ctx,
  month: string,
  now: Date,
  orgs: { org: OrgInfo; m: MonthFigures & { month: string; is_closed: boolean; invoice_number: string | null }; revenueUsd: string | null; projectedUsd: string | null; marginUsd: string | null }[],
) {
  const known = orgs.filter((o) => o.revenueUsd !== null && o.projectedUsd !== null);
  const revenueUsd = sum(known.map((o) => dec(o.revenueUsd!)));
  const marginUsd = sum(known.map((o) => dec(o.marginUsd!)));
  const totals = {
    organizations: orgs.length,
    agent_count: orgs.reduce((n, o) => n + o.m.agent_count, 0),
    revenue_usd: round(revenueUsd, 2),
    projected_revenue_usd: round(sum(known.map((o) => dec(o.projectedUsd!))), 2),
    cost_usd: round(sum(known.map((o) => dec(o.m.total_cost_usd))), 4),
    margin_usd: round(marginUsd, 2),
    margin_pct: marginPct(marginUsd, revenueUsd),
    unpriced_events: orgs.reduce((n, o) => n + o.m.unpriced_events, 0),
    missing_fx: [...new Set(orgs.filter((o) => o.revenueUsd === null || o.projectedUsd === null).map((o) => o.org.currency))].sort(),
  };
  return {
    month,
    is_partial: now < monthEnd(month),
    organizations: orgs.map((o) => {
      const { month: _month, ...figures } = o.m;
      return visible(ctx, { ...o.org, ...figures, revenue_usd: o.revenueUsd, margin_usd: o.marginUsd }, [...MONTH_COST_FIELDS, "revenue_usd", "margin_usd"]);
    }),
    totals: visible(ctx, totals, ["revenue_usd", "projected_revenue_usd", "cost_usd", "margin_usd", "margin_pct", "unpriced_events", "missing_fx"]),
  };
}

// ---------------------------------------------------------------------------------------------
// For other modules (budgets): one month's revenue, as billing computes it.

/** One organization's month as budgets need it: projected revenue per agent line, in the org currency, and the month's FX rate. */
export interface MonthRevenue {
  orgId: string;
  currency: string;
  /** Units of the currency per USD for the month; null when none is known. */
  fx: string | null;
  /** The billing summary's `projected_revenue` of the month: seat revenue if nothing changes plus the usage charges so far; a closed month's invoiced revenue. */
  projectedRevenue: string;
  /** Each agent line's `projected_revenue` (its seat revenue and its own usage charge). */
  lines: { agentId: string; projectedRevenue: string }[];
}

/**
 * The revenue of `month` for each organization of `orgIds` (deleted ones included), exactly as the
 * billing summary reports it, for callers that already decided who may see it (budget allowances
 * derived from revenue: docs/guardrails.md). No authorization here.
 */
export async function monthRevenue(db: DbOrTx, orgIds: string[], month: string, now = new Date()): Promise<MonthRevenue[]> {
  const figures = await figuresOf(db, await orgsById(db, orgIds), monthRange(month), now);
  return figures.map(({ data, computed, billed }) => {
    const m = billed.months[0]!;
    return {
      orgId: data.org.id,
      currency: data.org.currency,
      fx: m.fx_rate,
      projectedRevenue: m.projected_revenue,
      lines: computed.lines.map((l) => ({ agentId: l.agent_id, projectedRevenue: l.projected_revenue })),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// For the insights (docs/guardrails.md, "Insights"): one organization's month, with what its
// lines are computed from, so that a scenario can recompute them by the same rules.

export interface OrgMonth {
  org: OrgInfo;
  month: string;
  isPartial: boolean;
  /** The month's FX rate (units of the org currency per USD), null when missing. */
  fx: string | null;
  /** The usage markup in percent; null = usage not billed. */
  markup: string | null;
  /** The month as the billing summary reports it. */
  figures: ReturnType<typeof charged>["months"][number];
  /** The month's lines as `records` shows them, with every cost field. */
  lines: Line[];
  /** Each agent of the lines: its exact revenue parts (billed seconds) and usage totals. */
  agents: Map<string, { name: string; revenue: ReturnType<typeof agentRevenue>[number] | undefined; usage: UsageTotals | undefined }>;
}

/**
 * One month of one organization the caller may see, computed exactly as `summary` and `records`
 * compute it. The caller authorizes; this only resolves the organization through the tenant filter.
 */
export async function orgMonth(ctx: Ctx, ref: string, month: string, now = new Date()): Promise<OrgMonth> {
  const { org, data, computed, billed } = await computeFor(ctx, ref, { from: month, to: month }, now);
  const agentsOfMonth: OrgMonth["agents"] = new Map();
  for (const line of computed.lines) {
    const agent = data.agents.get(line.agent_id)!;
    const [revenue] = agentRevenue(data.history, agent.history, [month], secondsOf(now));
    agentsOfMonth.set(line.agent_id, { name: agent.name, revenue, usage: data.usage.get(`${line.agent_id}|${month}`) });
  }
  const figures = billed.months[0]!;
  return { org, month, isPartial: now < monthEnd(month), fx: figures.fx_rate, markup: data.markup, figures, lines: computed.lines, agents: agentsOfMonth };
}
