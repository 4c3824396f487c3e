import { z, type ZodType } from "zod";
import type { DbOrTx } from "../../db/client";
import type { Config } from "../config";
import type { Ctx } from "../context";
import type { RequestPermits } from "./permits";

/**
 * The registry of background job kinds (docs/architecture.md, "Background jobs"). A kind is
 * declared here — name, payload schema, retry schedule, time limit, period — so that services can
 * enqueue it without importing its handler; its handler lives in `handlers/` and is listed in
 * `handlers/index.ts`.
 */
export interface JobKind<P = unknown> {
  /** Dotted name stored in `jobs.kind`; never rename one that may still be queued. */
  kind: string;
  payload: ZodType<P>;
  /**
   * Delays before the next claim after a run that threw, ms: `[1000, 10000]` = up to three runs.
   * When they are used up the job is kept as `failed`.
   */
  retryDelaysMs: readonly number[];
  /** Time one run may take before its signal aborts it, ms. The claim's lease is this plus a margin. */
  timeoutMs: (config: Config) => number;
  /** A periodic kind: one job per period of this length (aligned to the epoch), across all instances. */
  everyMs?: number;
}

export function jobKind<P>(definition: JobKind<P>): JobKind<P> {
  return definition;
}

/** What a handler receives for one run of one job. */
export interface JobRun<P> {
  payload: P;
  job: {
    id: number;
    kind: string;
    /** 1 for the first run since the job was queued (or rescheduled by its handler). */
    attempt: number;
    runAt: Date;
    createdAt: Date;
    /** Why the previous run failed, if it did. */
    lastError: string | null;
  };
  /** A system context: no principal (audit entries name the system), the server's config and database. */
  ctx: Ctx;
  /** Aborted when the run exceeds its time limit or the instance stops. */
  signal: AbortSignal;
  /**
   * Marks the job done inside `tx`, the transaction holding the run's own writes: they commit
   * together or not at all, and only if this instance still holds the claim (a run whose lease ran
   * out and was taken over by another instance rolls back). This is what makes a job's database
   * effects happen exactly once. A handler that does not call it is completed after it returns.
   */
  complete(tx: DbOrTx): Promise<void>;
  /** Runs the job again after `delayMs` (inside `tx`, like `complete`): for handlers that keep their own schedule. */
  reschedule(tx: DbOrTx, delayMs: number): Promise<void>;
  /**
   * Claims up to `limit` more due jobs of the same kind for this run, so that a handler can do the
   * work of several in one go (one load, one transaction). Each comes with its
   * own `complete` and `reschedule`; one the handler leaves unsettled is settled like this run
   * (completed when the handler returns, retried on the kind's schedule when it throws). Their
   * claims last as long as this run's, and they are aborted with it.
   */
  claimMore(limit: number): Promise<JobRun<P>[]>;
  /**
   * Completes `runs` (this one and those from its `claimMore`) inside `tx` in one statement; throws
   * like `complete` when any of the claims is no longer this instance's, so `tx` must roll back.
   */
  completeAll(tx: DbOrTx, runs: JobRun<P>[]): Promise<void>;
}

/**
 * Work whose rows are their own queue entries, claimed from a table of its own rather than from
 * `jobs` (webhook deliveries: docs/guardrails.md, "Delivery and retries"). The runner claims a
 * batch when it has a free slot (after the due jobs), runs it in that slot under the queue's time
 * limit, and gives back what a run that threw or was stopped still holds. A claim is a token and a
 * lease written on the rows themselves: a row whose lease ran out (its instance died) is due
 * again, and only the holder of the current token can record a row's outcome.
 */
export interface RowQueue<B = unknown> {
  /** Name in logs and metrics (`orgdesk_job_runs_total`, the queue gauges). */
  kind: string;
  /** Time one batch may take before its signal aborts it, ms. The claim's lease is this plus a margin. */
  timeoutMs: (config: Config) => number;
  /** Claims a batch of due rows under `token` until `leaseMs` from now; null when none is due. `full`: it took as many as a batch may (more may be due). */
  claim(ctx: Ctx, claim: { token: string; leaseMs: number }): Promise<{ batch: B; full: boolean } | null>;
  /**
   * Outside requests in flight per slot: the runner bounds the requests of all of the queue's
   * batches on the instance together to JOB_CONCURRENCY × this (`permits`).
   */
  inFlight: number;
  /**
   * Does the batch's work and records it (on the rows still under its token). Each outside request
   * holds one of `permits` while it is in flight (an older batch's requests get them first). It may
   * call `dispatched` once every one of its requests has started (only their answers and the
   * recording are left): the runner then gives its slot to the next claim.
   */
  run(ctx: Ctx, batch: B, signal: AbortSignal, dispatched: () => void, permits: RequestPermits): Promise<void>;
  /** Gives the rows still under `token` back to the queue, due after `delayMs` (a run that threw or was stopped). */
  release(ctx: Ctx, token: string, delayMs: number): Promise<void>;
}

export interface JobHandler<P = any> {
  kind: JobKind<P>;
  run(job: JobRun<P>): Promise<void>;
}

export function jobHandler<P>(kind: JobKind<P>, run: (job: JobRun<P>) => Promise<void>): JobHandler<P> {
  return { kind, run };
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Deletes delivery logs (and their events) older than WEBHOOK_LOG_RETENTION_DAYS. */
export const webhookPrune = jobKind({
  kind: "webhook.prune",
  payload: z.object({}),
  retryDelaysMs: [MINUTE, 10 * MINUTE],
  timeoutMs: () => 10 * MINUTE,
  everyMs: HOUR,
});

/** Deletes failed jobs kept for inspection for more than 30 days. */
export const jobsPrune = jobKind({
  kind: "jobs.prune",
  payload: z.object({}),
  retryDelaysMs: [MINUTE, 10 * MINUTE],
  timeoutMs: () => 10 * MINUTE,
  everyMs: HOUR,
});

/**
 * Evaluates the budgets an ingestion touched: those on the organization and on the agents with
 * usage there in the month (docs/guardrails.md, "Alerts"). Queued in the ingestion's transaction,
 * at most one queued per organization and month.
 */
export const budgetsEvaluate = jobKind({
  kind: "budgets.evaluate",
  payload: z.object({ org_id: z.uuid(), month: z.string().regex(/^\d{4}-\d{2}$/) }),
  retryDelaysMs: [SECOND, 10 * SECOND, MINUTE, 5 * MINUTE],
  timeoutMs: () => MINUTE,
});

/**
 * Every live budget's current month again (allowances derived from revenue follow rate changes and
 * moves), and the suspensions of months that have ended recorded as lifted, with their events.
 */
export const budgetsSweep = jobKind({
  kind: "budgets.sweep",
  payload: z.object({}),
  retryDelaysMs: [10 * SECOND, MINUTE],
  timeoutMs: () => 5 * MINUTE,
  everyMs: 5 * MINUTE,
});

/**
 * The automatic month close (docs/billing.md, "Automatic close"): finalizes every month whose grace
 * period (`auto_finalize_after_days`) has passed. Idempotent: a month already finalized is skipped.
 */
export const invoicesAutoClose = jobKind({
  kind: "invoices.auto_close",
  payload: z.object({}),
  retryDelaysMs: [MINUTE, 10 * MINUTE],
  timeoutMs: () => 10 * MINUTE,
  everyMs: 15 * MINUTE,
});

/**
 * Creates the partitions of usage_events for the current UTC month and the next two
 * (docs/decisions.md, "Partitioned usage events"). Idempotent: an existing month is left alone.
 */
export const usagePartitions = jobKind({
  kind: "usage.partitions",
  payload: z.object({}),
  retryDelaysMs: [MINUTE, 10 * MINUTE],
  timeoutMs: () => 5 * MINUTE,
  everyMs: 6 * HOUR,
});

/**
 * Drops the raw usage events of months before the USAGE_RETENTION_MONTHS window, a whole partition at
 * a time, once the month's rollups and invoices are stored (docs/operations.md, "Usage retention").
 * Does nothing when retention is not configured.
 */
export const usageRetention = jobKind({
  kind: "usage.retention",
  payload: z.object({}),
  retryDelaysMs: [10 * MINUTE, HOUR],
  timeoutMs: () => 30 * MINUTE,
  everyMs: HOUR,
});

/**
 * Folds the pending rollup deltas of ingestion and re-pricing into usage_month_rollups
 * (docs/scaling.md, "Rollup deltas"). Readers read rollups plus deltas, so a late fold changes no
 * figure; folding often keeps the deltas those reads sum few.
 */
export const usageFold = jobKind({
  kind: "usage.fold",
  payload: z.object({}),
  retryDelaysMs: [10 * SECOND, MINUTE],
  timeoutMs: () => 5 * MINUTE,
  everyMs: 5 * SECOND,
});

/**
 * Deletes what ingestion keeps only for a while (docs/integrations.md, "Housekeeping"): the
 * remembered OpenTelemetry spans of finished traces, and ingestion statistics older than two days.
 */
export const usagePrune = jobKind({
  kind: "usage.prune",
  payload: z.object({}),
  retryDelaysMs: [MINUTE, 10 * MINUTE],
  timeoutMs: () => 10 * MINUTE,
  everyMs: HOUR,
});

/**
 * Vacuums and analyzes the tables autovacuum would have, when the database runs no autovacuum
 * (embedded PGlite, or PostgreSQL with it off; docs/operations.md, "Vacuum"). Otherwise a run
 * only asks the database and returns.
 */
export const dbVacuum = jobKind({
  kind: "db.vacuum",
  payload: z.object({}),
  retryDelaysMs: [MINUTE],
  timeoutMs: () => 30 * MINUTE,
  everyMs: MINUTE,
});

/** Every declared kind; `handlers/index.ts` must have exactly one handler for each (tests/db/jobs.test.ts). */
export const JOB_KINDS: JobKind<any>[] = [webhookPrune, jobsPrune, budgetsEvaluate, budgetsSweep, invoicesAutoClose, usagePartitions, usageRetention, usagePrune, usageFold, dbVacuum];
