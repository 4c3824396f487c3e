import { and, asc, eq, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import { type Database, type Db, type DbOrTx, listen as listenTo, rows } from "../../db/client";
import { jobSchedules, jobs, webhookDeliveries } from "../../db/schema";
import type { JobKind } from "./kinds";

/**
 * The job queue's statements (docs/architecture.md, "Background jobs"). Enqueueing happens inside
 * the caller's transaction; claims are single statements with `FOR UPDATE SKIP LOCKED`, so two
 * instances never hold the same job, and completing requires the claim's token, so a run that
 * lost its claim cannot commit.
 */

/** The kind under which the webhook delivery queue (its rows are its own entries: handlers/webhook-deliver.ts) is logged, measured and counted. */
export const WEBHOOK_DELIVERY_KIND = "webhook.deliver";

/** The NOTIFY channel that wakes idle runners: the `jobs_notify` and `webhook_deliveries_notify` triggers, and a manual webhook retry. */
export const JOBS_CHANNEL = "orgdesk_jobs";

/** The run lost its claim (its lease ran out and another instance took the job): its transaction must not commit. */
export class JobClaimLost extends Error {
  constructor(readonly jobId: number) {
    super(`Job ${jobId} is no longer claimed by this run`);
    this.name = "JobClaimLost";
  }
}

export interface EnqueueOptions {
  /** Earliest time to run (default: now). */
  runAt?: Date;
  /** Run no earlier than this many ms after the transaction's time (ignored when runAt is given). */
  delayMs?: number;
  /** At most one queued job per kind and key: a second enqueue moves the queued one to the earlier time instead. */
  key?: string;
}

function runAtOf(options: EnqueueOptions): SQL {
  if (options.runAt) return sql`${options.runAt.toISOString()}::timestamptz`;
  if (options.delayMs) return sql`now() + ${Math.round(options.delayMs)} * interval '1 millisecond'`;
  return sql`now()`;
}

/**
 * Enqueues jobs of one kind in the caller's transaction: they exist exactly when it commits. The
 * payloads are checked against the kind's schema (a wrong payload is a programming error, thrown
 * here rather than discovered by the runner). Returns the job ids (an existing queued job's id for
 * a key that was already queued).
 */
export async function enqueueMany<P>(tx: DbOrTx, kind: JobKind<P>, items: ({ payload: P } & EnqueueOptions)[]): Promise<number[]> {
  if (items.length === 0) return [];
  const values = items.map(
    (item) => sql`(${kind.kind}, ${JSON.stringify(kind.payload.parse(item.payload))}::jsonb, ${runAtOf(item)}, ${item.key ?? null}::text)`,
  );
  const inserted = await rows<{ id: string | number }>(
    tx,
    sql`insert into ${jobs} (kind, payload, run_at, key) values ${sql.join(values, sql`, `)}
        on conflict (kind, key) where state = 'queued'
        do update set run_at = least(${jobs.runAt}, excluded.run_at)
        returning ${jobs.id}`,
  );
  return inserted.map((r) => Number(r.id));
}

/** Enqueues one job in the caller's transaction (see enqueueMany). */
export async function enqueue<P>(tx: DbOrTx, kind: JobKind<P>, payload: P, options: EnqueueOptions = {}): Promise<number> {
  const [id] = await enqueueMany(tx, kind, [{ payload, ...options }]);
  return id!;
}

export interface ClaimedJob {
  id: number;
  kind: string;
  payload: unknown;
  attempts: number;
  key: string | null;
  claim: string;
  runAt: Date;
  createdAt: Date;
  lastError: string | null;
}

/**
 * Claims up to `limit` due jobs of the given kinds for `instanceId`: queued jobs whose time has
 * come, and running jobs whose lease ran out (their instance stopped or hung). Each claim gets a
 * new token and a lease of the kind's length. One statement: rows another instance is claiming at
 * the same moment are skipped, never claimed twice.
 */
export async function claim(db: Db, options: { kinds: { kind: string; leaseMs: number }[]; limit: number; instanceId: string }): Promise<ClaimedJob[]> {
  if (options.kinds.length === 0 || options.limit <= 0) return [];
  const names = options.kinds.map((k) => k.kind);
  const lease = sql.join(
    options.kinds.map((k) => sql`when ${k.kind} then ${Math.round(k.leaseMs)}::int`),
    sql` `,
  );
  const due = db
    .select({ id: jobs.id })
    .from(jobs)
    .where(
      and(
        inArray(jobs.kind, names),
        or(and(eq(jobs.state, "queued"), sql`${jobs.runAt} <= now()`), and(eq(jobs.state, "running"), sql`${jobs.lockedUntil} < now()`)),
      ),
    )
    .orderBy(asc(jobs.runAt), asc(jobs.id))
    .limit(options.limit)
    .for("update", { skipLocked: true });
  const claimed = await db
    .update(jobs)
    .set({
      state: "running",
      attempts: sql`${jobs.attempts} + 1`,
      claim: sql`gen_random_uuid()`,
      lockedBy: options.instanceId,
      lockedUntil: sql`now() + (case ${jobs.kind} ${lease} end) * interval '1 millisecond'`,
    })
    .where(inArray(jobs.id, due))
    .returning();
  return claimed
    .map((j) => ({
      id: j.id,
      kind: j.kind,
      payload: j.payload,
      attempts: j.attempts,
      key: j.key,
      claim: j.claim!,
      runAt: j.runAt,
      createdAt: j.createdAt,
      lastError: j.lastError,
    }))
    .sort((a, b) => a.runAt.getTime() - b.runAt.getTime() || a.id - b.id);
}

/** Deletes a finished job, in the transaction of its effects; throws JobClaimLost when the claim is no longer ours. */
export async function complete(tx: DbOrTx, job: ClaimedJob): Promise<void> {
  const deleted = await tx
    .delete(jobs)
    .where(and(eq(jobs.id, job.id), eq(jobs.claim, job.claim), eq(jobs.state, "running")))
    .returning({ id: jobs.id });
  if (deleted.length === 0) throw new JobClaimLost(job.id);
}

/** Deletes several finished jobs in one statement (see complete); throws JobClaimLost when any claim is no longer ours. */
export async function completeMany(tx: DbOrTx, list: ClaimedJob[]): Promise<void> {
  if (list.length === 0) return;
  // One JSON parameter and one statement text, however many jobs.
  const pairs = JSON.stringify(list.map((j) => ({ id: j.id, claim: j.claim })));
  const deleted = await rows<{ id: string | number }>(
    tx,
    sql`delete from ${jobs} where (${jobs.id}, ${jobs.claim}) in (select x.id, x.claim from jsonb_to_recordset(${pairs}::jsonb) as x(id bigint, claim uuid))
        and ${jobs.state} = 'running' returning ${jobs.id}`,
  );
  if (deleted.length !== list.length) {
    const gone = new Set(deleted.map((d) => Number(d.id)));
    throw new JobClaimLost(list.find((j) => !gone.has(j.id))!.id);
  }
}

/**
 * Puts a claimed job back in the queue to run after `delayMs`, with `attempts` claims counted
 * (0 when a handler reschedules it, its count so far after a failed run). A keyed job whose key
 * was queued again meanwhile merges into that one (the earlier time wins). Throws JobClaimLost
 * when the claim is no longer ours.
 */
export async function requeue(tx: DbOrTx, job: ClaimedJob, options: { delayMs: number; attempts: number; error?: string | null }): Promise<void> {
  const runAt = sql`now() + ${Math.max(0, Math.round(options.delayMs))} * interval '1 millisecond'`;
  const error = options.error === undefined ? job.lastError : options.error;
  if (job.key === null) {
    const updated = await tx
      .update(jobs)
      .set({ state: "queued", runAt, attempts: options.attempts, claim: null, lockedBy: null, lockedUntil: null, lastError: error })
      .where(and(eq(jobs.id, job.id), eq(jobs.claim, job.claim), eq(jobs.state, "running")))
      .returning({ id: jobs.id });
    if (updated.length === 0) throw new JobClaimLost(job.id);
    return;
  }
  // The unique index allows one queued job per key: replace this row by an upsert instead of
  // updating it into a conflict (which would abort the caller's transaction).
  await complete(tx, job);
  await tx.execute(
    sql`insert into ${jobs} (kind, payload, run_at, key, attempts, last_error)
        values (${job.kind}, ${JSON.stringify(job.payload)}::jsonb, ${runAt}, ${job.key}, ${options.attempts}, ${error})
        on conflict (kind, key) where state = 'queued'
        do update set run_at = least(${jobs.runAt}, excluded.run_at)`,
  );
}

/** Gives up on a job: it stays as `failed` with its last error, for inspection, until pruned. */
export async function fail(db: DbOrTx, job: ClaimedJob, error: string): Promise<void> {
  const updated = await db
    .update(jobs)
    .set({ state: "failed", failedAt: sql`now()`, claim: null, lockedUntil: null, lastError: error })
    .where(and(eq(jobs.id, job.id), eq(jobs.claim, job.claim), eq(jobs.state, "running")))
    .returning({ id: jobs.id });
  if (updated.length === 0) throw new JobClaimLost(job.id);
}

/**
 * Records the periodic kinds this instance runs (a new kind runs at once; a changed period takes
 * effect by its next run).
 */
export async function registerSchedules(db: Db, kinds: { kind: string; everyMs: number }[]): Promise<void> {
  if (kinds.length === 0) return;
  const values = kinds.map((k) => sql`(${k.kind}, ${k.everyMs}::int, now())`);
  await db.execute(
    sql`insert into ${jobSchedules} (kind, every_ms, next_run_at) values ${sql.join(values, sql`, `)}
        on conflict (kind) do update set every_ms = excluded.every_ms,
          next_run_at = least(${jobSchedules.nextRunAt}, now() + excluded.every_ms * interval '1 millisecond')
        where ${jobSchedules.everyMs} <> excluded.every_ms`,
  );
}

/**
 * Enqueues the job of every periodic kind whose period has come, once across all instances: the
 * schedule row moves to the next period boundary in the same statement, so an instance running
 * this concurrently waits for the row, finds it no longer due, and enqueues nothing. A period's
 * job is not enqueued while the previous one is still queued.
 */
export async function enqueueDuePeriodic(db: Db, kinds: string[]): Promise<number> {
  if (kinds.length === 0) return 0;
  const inserted = await rows(
    db,
    sql`with due as (
          update ${jobSchedules}
             set next_run_at = to_timestamp((floor(extract(epoch from now()) * 1000 / every_ms) + 1) * every_ms / 1000.0)
           where ${inArray(jobSchedules.kind, kinds)} and ${jobSchedules.nextRunAt} <= now()
       returning kind
        )
        insert into ${jobs} (kind, payload, key)
        select kind, '{}'::jsonb, 'periodic' from due
        on conflict (kind, key) where state = 'queued' do nothing
        returning id`,
  );
  return inserted.length;
}

export interface QueueStats {
  kinds: {
    kind: string;
    /** Queued and due now. */
    due: number;
    /** Queued for later (delayed jobs, retries waiting for their time). */
    scheduled: number;
    running: number;
    failed: number;
    /** How long the oldest due job has been waiting past its time, seconds (0 when none is due). */
    lag_seconds: number;
  }[];
  due: number;
  running: number;
  failed: number;
  lag_seconds: number;
}

/**
 * Queue depth and lag per kind, for metrics and health: the jobs, and the pending webhook
 * deliveries (their own queue entries, under the kind `webhook.deliver`; a delivery with a live
 * claim is running, a settled one is not in the queue).
 */
export async function queueStats(db: DbOrTx): Promise<QueueStats> {
  const found = await rows<{ kind: string; due: number; scheduled: number; running: number; failed: number; lag_ms: number | null }>(
    db,
    sql`select kind,
               count(*) filter (where state = 'queued' and run_at <= now())::int as due,
               count(*) filter (where state = 'queued' and run_at > now())::int as scheduled,
               count(*) filter (where state = 'running')::int as running,
               count(*) filter (where state = 'failed')::int as failed,
               (extract(epoch from now() - min(run_at) filter (where state = 'queued' and run_at <= now())) * 1000)::bigint as lag_ms
          from ${jobs} group by kind
        union all
        select ${WEBHOOK_DELIVERY_KIND}::text as kind,
               count(*) filter (where next_attempt_at <= now() and coalesce(claimed_until < now(), true))::int as due,
               count(*) filter (where next_attempt_at > now() and coalesce(claimed_until < now(), true))::int as scheduled,
               count(*) filter (where claimed_until >= now())::int as running,
               0 as failed,
               (extract(epoch from now() - min(next_attempt_at) filter (where next_attempt_at <= now() and coalesce(claimed_until < now(), true))) * 1000)::bigint as lag_ms
          from ${webhookDeliveries} where status = 'pending' having count(*) > 0
        order by kind`,
  );
  const kinds = found.map((r) => ({
    kind: r.kind,
    due: Number(r.due),
    scheduled: Number(r.scheduled),
    running: Number(r.running),
    failed: Number(r.failed),
    lag_seconds: r.lag_ms === null ? 0 : Number(r.lag_ms) / 1000,
  }));
  const sum = (f: (k: (typeof kinds)[number]) => number) => kinds.reduce((s, k) => s + f(k), 0);
  return { kinds, due: sum((k) => k.due), running: sum((k) => k.running), failed: sum((k) => k.failed), lag_seconds: Math.max(0, ...kinds.map((k) => k.lag_seconds)) };
}

/** Deletes failed jobs that failed more than `olderThanMs` ago, in batches. Returns how many. */
export async function pruneFailed(db: Db, olderThanMs: number): Promise<number> {
  let total = 0;
  for (;;) {
    const batch = db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.state, "failed"), lt(jobs.failedAt, sql`now() - ${Math.round(olderThanMs)} * interval '1 millisecond'`)))
      .limit(1000);
    const deleted = await db.delete(jobs).where(inArray(jobs.id, batch)).returning({ id: jobs.id });
    total += deleted.length;
    if (deleted.length < 1000) return total;
  }
}

/** Wakes `onNotify` when a job is enqueued (the jobs_notify trigger); null when this database cannot listen. */
export const listen = (database: Database, channel: string, onNotify: () => void) => listenTo(database, channel, onNotify);
