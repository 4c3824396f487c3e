import { type SQL, sql } from "drizzle-orm";
import { type DbOrTx, rows } from "../../../db/client";
import { authorize, seesCosts, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { validationError } from "../../errors";
import { dec, round, sub, sum } from "../../shared/money";
import { addMonths, monthEnd, monthOf, monthsBetween, monthStart } from "../../shared/time";
import { findOrg } from "../orgs/service";
import { forReports } from "../reads/service";
import { buildLine, fxForMonth, type Line, marginPct, type MonthFigures, sumLines, sumMonths, toCsv, toUsd, type UsageTotals } from "./lines";
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
// Loading: the period tables and the rollups of a set of organizations over a range. Never raw events.

const epoch = (column: SQL) => sql`floor(extract(epoch from ${column}))::bigint::text`;
const idList = (ids: string[]) => sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `);
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
}

async function periods<T>(db: DbOrTx, table: string, ownerColumn: string, valueSql: string, owners: string[], start: Date, end: Date) {
  if (owners.length === 0) return [] as (PeriodRow & { v: T })[];
  return rows<PeriodRow & { v: T }>(
    db,
    sql`select ${sql.raw(ownerColumn)}::text as owner, ${sql.raw(valueSql)} as v, ${epoch(sql.raw("starts_at"))} as s, ${epoch(sql.raw("ends_at"))} as e
        from ${sql.raw(table)}
        where ${sql.raw(ownerColumn)} in (${idList(owners)})
          and starts_at < ${end.toISOString()}::timestamptz and (ends_at is null or ends_at > ${start.toISOString()}::timestamptz)
        order by starts_at`,
  );
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

async function loadOrgData(db: DbOrTx, orgs: OrgInfo[], range: Range): Promise<OrgData[]> {
  if (orgs.length === 0) return [];
  const start = monthStart(range.from);
  const end = monthEnd(range.to);
  const orgIds = orgs.map((o) => o.id);
  // One wave of queries: the agents' own histories are selected by the same conditions that pick
  // the agents (assigned to one of the organizations in the range, or with usage there), so nothing
  // waits for an earlier answer.
  const startIso = start.toISOString();
  const endIso = end.toISOString();
  const firstMonth = range.from + "-01";
  const endMonth = endIso.slice(0, 10);
  const agentSet = sql`(select agent_id from agent_assignments
      where org_id in (${idList(orgIds)}) and starts_at < ${endIso}::timestamptz and (ends_at is null or ends_at > ${startIso}::timestamptz)
    union
    select agent_id from usage_month_rollups
      where org_id in (${idList(orgIds)}) and month >= ${firstMonth}::date and month < ${endMonth}::date)`;
  const agentPeriods = <T>(table: string, valueSql: string) =>
    rows<PeriodRow & { v: T }>(
      db,
      sql`select agent_id::text as owner, ${sql.raw(valueSql)} as v, ${epoch(sql.raw("starts_at"))} as s, ${epoch(sql.raw("ends_at"))} as e
          from ${sql.raw(table)}
          where agent_id in ${agentSet}
            and starts_at < ${endIso}::timestamptz and (ends_at is null or ends_at > ${startIso}::timestamptz)
          order by starts_at`,
    );
  const [status, orgRates, assignments, usageRows, fxRows, agentRates, agentStatuses, names] = await Promise.all([
    periods<boolean>(db, "org_status_periods", "org_id", "is_active", orgIds, start, end),
    periods<string>(db, "org_rate_periods", "org_id", "rate::text", orgIds, start, end),
    rows<PeriodRow & { agent: string }>(
      db,
      sql`select org_id::text as owner, agent_id::text as agent, ${epoch(sql`starts_at`)} as s, ${epoch(sql`ends_at`)} as e
          from agent_assignments
          where org_id in (${idList(orgIds)}) and starts_at < ${endIso}::timestamptz
            and (ends_at is null or ends_at > ${startIso}::timestamptz)
          order by starts_at`,
    ),
    rows<{ org: string; agent: string; month: string; events: string; unpriced: string; input: string; output: string; cr: string; cw: string; cost: string }>(
      db,
      sql`select org_id::text as org, agent_id::text as agent, to_char(month, 'YYYY-MM') as month,
                 sum(events)::text as events, sum(unpriced_events)::text as unpriced,
                 sum(input_tokens)::text as input, sum(output_tokens)::text as output,
                 sum(cache_read_tokens)::text as cr, sum(cache_write_tokens)::text as cw, sum(cost_usd)::text as cost
          from usage_month_rollups
          where org_id in (${idList(orgIds)}) and month >= ${firstMonth}::date and month < ${endMonth}::date
          group by 1, 2, 3`,
    ),
    rows<{ currency: string; effective_from: string; rate: string }>(
      db,
      sql`select currency, effective_from::text as effective_from, rate::text as rate from fx_rates order by currency, effective_from`,
    ),
    agentPeriods<string | null>("agent_rate_periods", "rate::text"),
    agentPeriods<string>("agent_status_periods", "status"),
    rows<{ id: string; name: string }>(db, sql`select id::text as id, name from agents where id in ${agentSet}`),
  ]);
  const statusBy = group(status);
  const orgRatesBy = group(orgRates);
  const agentRatesBy = group(agentRates);
  const agentStatusBy = group(agentStatuses);
  const nameBy = new Map(names.map((n) => [n.id, n.name]));

  return orgs.map((org) => {
    const agents = new Map<string, { name: string; history: AgentHistory }>();
    const ensure = (agentId: string) => {
      let entry = agents.get(agentId);
      if (!entry) {
        entry = {
          name: nameBy.get(agentId) ?? agentId,
          history: { assignments: [], rates: agentRatesBy.get(agentId) ?? [], statuses: agentStatusBy.get(agentId) ?? [] },
        };
        agents.set(agentId, entry);
      }
      return entry;
    };
    for (const a of assignments) if (a.owner === org.id) ensure(a.agent).history.assignments.push({ start: Number(a.s), end: toSec(a.e), value: true });
    const usage = new Map<string, UsageTotals>();
    for (const u of usageRows) {
      if (u.org !== org.id) continue;
      ensure(u.agent);
      usage.set(`${u.agent}|${u.month}`, {
        events: Number(u.events),
        unpriced: Number(u.unpriced),
        inputTokens: Number(u.input),
        outputTokens: Number(u.output),
        cacheReadTokens: Number(u.cr),
        cacheWriteTokens: Number(u.cw),
        costUsd: u.cost,
      });
    }
    return {
      org,
      history: { active: statusBy.get(org.id) ?? [], rates: orgRatesBy.get(org.id) ?? [] },
      agents,
      usage,
      fx: fxRows.filter((f) => f.currency === org.currency).map((f) => ({ effectiveFrom: f.effective_from, rate: f.rate })),
    };
  });
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

async function computeFor(ctx: Ctx, ref: string, input: BillingRange) {
  const now = new Date();
  const range = resolveRange(input, now);
  const org = await orgInfo(ctx, ref);
  const [data] = await loadOrgData(ctx.db, [org], range);
  return { org, range, computed: compute(data!, range, now) };
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
  const { org, range, computed } = await computeFor(ctx, input.id, input);
  return {
    organization_id: org.id,
    currency: org.currency,
    from: range.from,
    to: range.to,
    summary: computed.months.map((m) => visible(ctx, m, MONTH_COST_FIELDS)),
    totals: visible(ctx, computed.totals, MONTH_COST_FIELDS),
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
  const tenant = tenantOrgId(ctx.principal);
  const orgRows = await rows<{ id: string; name: string; slug: string; currency: string; is_active: boolean; is_internal: boolean; is_deleted: boolean }>(
    ctx.db,
    sql`select id::text as id, name, slug, currency, is_active, is_internal, (deleted_at is not null) as is_deleted
        from organizations
        where (deleted_at is null or deleted_at >= ${monthStart(month).toISOString()}::timestamptz)
          ${tenant ? sql`and id = ${tenant}::uuid` : sql``}
        order by name, id`,
  );
  const data = await loadOrgData(ctx.db, orgRows, range);
  const orgs = data
    .map((d) => {
      const c = compute(d, range, now);
      const m = c.months[0]!;
      const revenueUsd = toUsd(m.total_revenue, m.fx_rate);
      const projectedUsd = toUsd(m.projected_revenue, m.fx_rate);
      const marginUsd = revenueUsd === null ? null : round(sub(dec(revenueUsd), dec(round(dec(m.total_cost_usd), 2))), 2);
      return { org: d.org, m, revenueUsd, projectedUsd, marginUsd, hasFigures: c.lines.length > 0 };
    })
    .filter((o) => !o.org.is_deleted || o.hasFigures);
  // USD totals are sums of the organizations' rounded USD figures; an organization whose currency
  // has no FX rate for the month is left out of them and named in `missing_fx`.
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
