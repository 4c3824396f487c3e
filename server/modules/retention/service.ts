import { getTableName, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import { type DbOrTx, rows } from "../../../db/client";
import { invoices, usageEventIds, usageEvents, usageMonthTotals } from "../../../db/schema";
import type { Ctx } from "../../context";
import { dropBefore, monthKey, monthStartBefore } from "../usage/retention";

/**
 * Monthly partitions of usage_events and their retention (docs/decisions.md, "Partitioned usage
 * events"; docs/operations.md, "Usage retention"). Partitions are named `usage_events_pYYYYMM` and
 * created only by the SQL function `usage_events_ensure_partition` (migration 0018).
 */

/** Months of partitions created ahead of time by the periodic job: the current one and the next two. */
const AHEAD_MONTHS = 2;
/** Serialises creating and dropping partitions (the same key as in usage_events_ensure_partition). */
const PARTITIONS_LOCK = 74263314;
/** How long dropping a month may wait for the locks it needs before giving up until the next run. */
const DROP_LOCK_TIMEOUT = "5s";

const PARTITION_NAME = /^usage_events_p(\d{4})(\d{2})$/;

/** Whether `err` is PostgreSQL's refusal of a row for which usage_events has no partition. */
export function isMissingPartition(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === "23514" && typeof e.message === "string" && e.message.startsWith("no partition of relation")) return true;
  }
  return false;
}

/** Creates the partitions of the months of `instants` (ISO strings) that do not exist yet; returns the months created. */
export async function ensurePartitions(db: DbOrTx, instants: string[]): Promise<string[]> {
  const months = [...new Set(instants.map((i) => `${i.slice(0, 7)}-01`))].sort();
  if (months.length === 0) return [];
  const created = await rows<{ month: string }>(
    db,
    sql`select m::text as month from jsonb_array_elements_text(${JSON.stringify(months)}::jsonb) as x(m)
        where usage_events_ensure_partition(m::date) order by m`,
  );
  return created.map((r) => r.month);
}

/** The partitions of usage_events, oldest first: name and first day of the month. */
export async function listPartitions(db: DbOrTx): Promise<{ name: string; month: string }[]> {
  const found = await rows<{ name: string }>(
    db,
    sql`select c.relname::text as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = to_regclass(${getTableName(usageEvents)})`,
  );
  return found
    .flatMap((r) => {
      const m = PARTITION_NAME.exec(r.name);
      return m ? [{ name: r.name, month: `${m[1]}-${m[2]}-01` }] : [];
    })
    .sort((a, b) => (a.month < b.month ? -1 : 1));
}

/** Creates the partitions of the current UTC month and the next two, so that rows never wait for one. Returns the months created. */
export async function createAhead(ctx: Ctx, now = new Date()): Promise<string[]> {
  const months = Array.from({ length: AHEAD_MONTHS + 1 }, (_, k) => monthKey(monthStartBefore(now, -k)));
  return ensurePartitions(ctx.db, months);
}

export interface RetentionRun {
  /** Months whose raw events were dropped (`YYYY-MM-01`). */
  dropped: string[];
  /** Months past the window that were kept, and why. */
  kept: { month: string; reason: string }[];
}

/**
 * Drops the raw events of every month before the retention window, a whole partition at a time
 * (detach, drop) with their ids in usage_event_ids, once everything derived from the month is
 * stored: its rollups equal the partition's own totals (checked row by row of the rollups), every
 * organization with usage that month has its finalized invoice, and no event is left unpriced
 * (pricing it later needs the raw row). A month that fails a check is kept and reported; it is
 * tried again on the next run. Safe with several instances: creating and dropping partitions share
 * one advisory lock, and a partition already gone is skipped.
 */
export async function dropExpired(ctx: Ctx, now = new Date()): Promise<RetentionRun> {
  const before = dropBefore(ctx.config.usageRetentionMonths, now);
  const result: RetentionRun = { dropped: [], kept: [] };
  if (!before) return result;
  const expired = (await listPartitions(ctx.db)).filter((p) => p.month < monthKey(before));
  for (const partition of expired) {
    const reason = await ctx.db.transaction(async (tx) => {
      await tx.execute(sql`set local lock_timeout = ${sql.raw(`'${DROP_LOCK_TIMEOUT}'`)}`);
      await tx.execute(sql`select pg_advisory_xact_lock(${PARTITIONS_LOCK})`);
      if (!(await listPartitions(tx)).some((p) => p.name === partition.name)) return "already dropped";
      // No write to the month (a re-pricing) between the checks and the drop.
      await tx.execute(sql`lock table ${sql.identifier(partition.name)} in share mode`);
      const why = await whyKept(tx, partition);
      if (why) return why;
      const start = `${partition.month}T00:00:00Z`;
      const end = monthStartBefore(new Date(start), -1).toISOString();
      await tx.execute(sql`alter table ${usageEvents} detach partition ${sql.identifier(partition.name)}`);
      await tx.execute(sql`drop table ${sql.identifier(partition.name)}`);
      await tx.execute(sql`delete from ${usageEventIds} where ${usageEventIds.occurredAt} >= ${start}::timestamptz and ${usageEventIds.occurredAt} < ${end}::timestamptz`);
      return null;
    });
    if (reason === null) result.dropped.push(partition.month);
    else if (reason !== "already dropped") result.kept.push({ month: partition.month, reason });
  }
  return result;
}

/** Why the month of `partition` must keep its raw events (null: it may be dropped). */
async function whyKept(tx: DbOrTx, partition: { name: string; month: string }): Promise<string | null> {
  const r = usageMonthTotals;
  const p = sql.identifier(partition.name);
  const month = partition.month;
  const e = usageEvents;
  const c = (column: AnyPgColumn) => sql.identifier(column.name);
  const [unpriced] = await rows<{ n: string }>(tx, sql`select coalesce(sum(${r.unpricedEvents}), 0)::text as n from ${r} where ${r.month} = ${month}::date`);
  if (unpriced!.n !== "0") return `${unpriced!.n} event(s) still unpriced`;
  const [open] = await rows<{ n: string }>(
    tx,
    sql`select count(distinct ${r.orgId})::text as n from ${r}
        where ${r.month} = ${month}::date and ${r.events} > 0
          and not exists (select 1 from ${invoices} where ${invoices.orgId} = ${r.orgId} and ${invoices.month} = ${month}::date and ${invoices.status} = 'finalized')`,
  );
  if (open!.n !== "0") return `${open!.n} organization(s) without a finalized invoice for the month`;
  // The partition's totals per rollup key, against the rollups: any difference, either way, keeps the month.
  const [diff] = await rows<{ n: string }>(
    tx,
    sql`with raw as (
          select ${c(e.orgId)}, ${c(e.agentId)}, ${c(e.model)}, count(*) as events, count(*) filter (where ${c(e.costUsd)} is null) as unpriced,
                 sum(${c(e.inputTokens)}) as input, sum(${c(e.outputTokens)}) as output, sum(${c(e.cacheReadTokens)}) as cache_read,
                 sum(${c(e.cacheWriteTokens)}) as cache_write, coalesce(sum(${c(e.costUsd)}), 0) as cost
          from ${p} group by 1, 2, 3
        ),
        rolled as (
          select ${r.orgId}, ${r.agentId}, ${r.model}, ${r.events}, ${r.unpricedEvents}, ${r.inputTokens}, ${r.outputTokens},
                 ${r.cacheReadTokens}, ${r.cacheWriteTokens}, ${r.costUsd}
          from ${r} where ${r.month} = ${month}::date and ${r.events} > 0
        )
        select count(*)::text as n from ((select * from raw except select * from rolled) union all (select * from rolled except select * from raw)) d`,
  );
  if (diff!.n !== "0") return `the rollups differ from the raw events in ${diff!.n} row(s)`;
  return null;
}
