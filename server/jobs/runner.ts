import type { Database } from "../../db/client";
import { log } from "../observability/log";
import type { Metrics } from "../observability/metrics";
import { ANONYMOUS } from "../auth/principal";
import type { Config } from "../config";
import type { Ctx } from "../context";
import { errorText } from "../errors";
import { JOB_HANDLERS, ROW_QUEUES } from "./handlers";
import type { JobHandler, JobKind, JobRun, RowQueue } from "./kinds";
import { Permits } from "./permits";
import * as jobs from "./service";

/** How much longer than a run's time limit its claim lasts before another instance may take the job. */
export const LEASE_MARGIN_MS = 5000;
/** After a batch of a row queue threw, its rows are due again after this long (not at once, so a failing batch does not spin). */
export const ROW_QUEUE_RETRY_MS = 1000;
const CHANNEL = jobs.JOBS_CHANNEL;

export interface JobRunner {
  instanceId: string;
  /** Look for due jobs now (e.g. after enqueueing outside a transaction). */
  wake(): void;
  /** Stops claiming; waits up to `graceMs` for runs in flight, then aborts them (they go back to the queue). */
  stop(graceMs?: number): Promise<void>;
}

export interface RunnerOptions {
  database: Database;
  config: Config;
  /** The kinds this runner runs (default: every registered handler). */
  handlers?: JobHandler[];
  /** The row queues this runner claims from (default: every registered one when `handlers` is not given, else none). */
  queues?: RowQueue<any>[];
  instanceId?: string;
  /** How much longer than a run's limit its claim lasts (default LEASE_MARGIN_MS). */
  leaseMarginMs?: number;
  /** Where runs are counted (docs/operations.md, Metrics); handlers see it as `ctx.metrics`. */
  metrics?: Metrics;
}

const maxAttempts = (kind: JobKind<unknown>) => kind.retryDelaysMs.length + 1;

/**
 * Starts the poll loop of one instance: it claims due jobs of its kinds (up to JOB_CONCURRENCY at
 * a time), enqueues periodic jobs whose period has come, and sleeps for JOB_POLL_INTERVAL_MS when
 * there is nothing to do — less when LISTEN/NOTIFY (JOB_LISTEN) reports a new job or a run ends.
 */
export function startJobRunner(options: RunnerOptions): JobRunner {
  const { database, config, metrics } = options;
  const db = database.db;
  const handlers = options.handlers ?? JOB_HANDLERS;
  // Each queue's batches share one bound on their outside requests: JOB_CONCURRENCY × its `inFlight`.
  const queues = (options.queues ?? (options.handlers ? [] : ROW_QUEUES)).map((q) => ({
    queue: q,
    leaseMs: q.timeoutMs(config) + (options.leaseMarginMs ?? LEASE_MARGIN_MS),
    permits: new Permits(config.jobConcurrency * q.inFlight),
  }));
  const byKind = new Map(handlers.map((h) => [h.kind.kind, h]));
  if (byKind.size !== handlers.length) throw new Error("Two job handlers for one kind");
  const instanceId = options.instanceId ?? `${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const claimable = handlers.map((h) => ({ kind: h.kind.kind, leaseMs: h.kind.timeoutMs(config) + (options.leaseMarginMs ?? LEASE_MARGIN_MS) }));
  const periodic = handlers.filter((h) => h.kind.everyMs !== undefined).map((h) => ({ kind: h.kind.kind, everyMs: h.kind.everyMs! }));

  /**
   * Runs in flight: `job:<id>` for a job, `<kind>:<token>` for a batch of a row queue. `slot`: it
   * holds one of the JOB_CONCURRENCY slots — every run does, except a row queue's batch that has
   * started all of its outside requests (RowQueue.run's `dispatched`): it waits for their answers
   * and records them, its requests held to the queue's permits.
   */
  const inflight = new Map<string, { controller: AbortController; done: Promise<void>; slot: boolean }>();
  /**
   * Slots free for new runs: JOB_CONCURRENCY less the runs holding one, and never more runs in
   * flight than twice JOB_CONCURRENCY (batches still recording count there).
   */
  const freeSlots = () => {
    let holding = 0;
    for (const r of inflight.values()) if (r.slot) holding++;
    return Math.max(0, Math.min(config.jobConcurrency - holding, 2 * config.jobConcurrency - inflight.size));
  };
  /** Batches started so far: a batch's rank for its queue's permits (older first). */
  let batchesStarted = 0;
  let stopping = false;
  let wakePending = false;
  let wakeUp: (() => void) | null = null;
  const wake = () => {
    wakePending = true;
    wakeUp?.();
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (wakePending || stopping) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  const systemCtx = (jobId: number | string): Ctx => ({ db, config, principal: ANONYMOUS, requestId: `job-${jobId}`, ip: "", metrics });

  /** Gives up on a job that cannot run (its payload is wrong, or its runs never finished) and returns null; else its parsed payload. */
  async function refuse(job: jobs.ClaimedJob, kind: JobKind<unknown>): Promise<{ payload: unknown } | null> {
    if (job.attempts > maxAttempts(kind)) {
      // Claimed again after its lease ran out as often as its retries allow: its runs never finish.
      await jobs.fail(db, job, `Gave up after ${job.attempts - 1} runs that did not finish${job.lastError ? `; last error: ${job.lastError}` : ""}`);
      metrics?.jobRun(kind.kind, "gave_up");
      return null;
    }
    const parsed = kind.payload.safeParse(job.payload);
    if (!parsed.success) {
      await jobs.fail(db, job, `The payload does not match the kind's schema: ${parsed.error.message.slice(0, 500)}`);
      metrics?.jobRun(kind.kind, "gave_up");
      return null;
    }
    return { payload: parsed.data };
  }

  /** A failed run of `job`: retried after the kind's next delay, or kept as failed. Never throws. */
  async function recordFailure(job: jobs.ClaimedJob, kind: JobKind<unknown>, err: unknown) {
    if (err instanceof jobs.JobClaimLost && err.jobId === job.id) {
      log.warn(`[jobs] ${job.kind} #${job.id}: its claim was taken over by another run; this run's effects were rolled back`);
      return;
    }
    const message = errorText(err);
    const delay = kind.retryDelaysMs[job.attempts - 1];
    try {
      if (delay === undefined) {
        await jobs.fail(db, job, message);
        metrics?.jobRun(kind.kind, "gave_up");
        log.error(`[jobs] ${job.kind} #${job.id} failed after ${job.attempts} runs: ${message}`);
      } else {
        await jobs.requeue(db, job, { delayMs: delay, attempts: job.attempts, error: message });
        metrics?.jobRun(kind.kind, "failed");
        log.warn(`[jobs] ${job.kind} #${job.id} run ${job.attempts} failed, next in ${delay} ms: ${message}`);
      }
    } catch (e) {
      // The claim is gone (another run finished it) or the database is unreachable: the lease
      // runs out and the job is claimed again.
      if (!(e instanceof jobs.JobClaimLost)) log.error(`[jobs] ${job.kind} #${job.id}: could not record the failure: ${errorText(e)}`);
    }
  }

  async function run(job: jobs.ClaimedJob, handler: JobHandler, controller: AbortController) {
    const kind = handler.kind;
    const limit = kind.timeoutMs(config);
    const timer = setTimeout(() => controller.abort(new Error(`The run took longer than its ${limit} ms limit`)), limit);
    /** This run's job and the jobs its handler claimed besides (`claimMore`), with whether each is settled. */
    const batch: { job: jobs.ClaimedJob; settled: boolean }[] = [];
    const entryOf = new WeakMap<JobRun<unknown>, { job: jobs.ClaimedJob; settled: boolean }>();
    const contextOf = (claimed: jobs.ClaimedJob, payload: unknown): JobRun<unknown> => {
      const entry = { job: claimed, settled: false };
      batch.push(entry);
      const context: JobRun<unknown> = {
        payload,
        job: { id: claimed.id, kind: claimed.kind, attempt: claimed.attempts, runAt: claimed.runAt, createdAt: claimed.createdAt, lastError: claimed.lastError },
        ctx: systemCtx(claimed.id),
        signal: controller.signal,
        complete: async (tx) => {
          await jobs.complete(tx, claimed);
          entry.settled = true;
        },
        reschedule: async (tx, delayMs) => {
          await jobs.requeue(tx, claimed, { delayMs, attempts: 0, error: null });
          entry.settled = true;
        },
        claimMore: async (more) => {
          if (more <= 0 || stopping || controller.signal.aborted) return [];
          const claimedMore = await jobs.claim(db, { kinds: claimable.filter((k) => k.kind === kind.kind), limit: more, instanceId });
          const out: JobRun<unknown>[] = [];
          for (const other of claimedMore) {
            const accepted = await refuse(other, kind);
            if (accepted) out.push(contextOf(other, accepted.payload));
          }
          return out;
        },
        completeAll: async (tx, runs) => {
          const entries = runs.map((r) => entryOf.get(r)!);
          await jobs.completeMany(
            tx,
            entries.map((e) => e.job),
          );
          for (const e of entries) e.settled = true;
        },
      };
      entryOf.set(context, entry);
      return context;
    };
    try {
      const accepted = await refuse(job, kind);
      if (!accepted) return;
      const context = contextOf(job, accepted.payload);
      const aborted = new Promise<never>((_, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
      });
      aborted.catch(() => {});
      // A handler that ignores its signal still gives its slot back when the limit passes; if it
      // finishes later, its claim is gone and its transaction cannot commit.
      await Promise.race([handler.run(context), aborted]);
      for (const e of batch) {
        if (!e.settled) await jobs.complete(db, e.job);
        metrics?.jobRun(kind.kind, "succeeded");
      }
    } catch (err) {
      // Every job of the run that is still ours goes back on its schedule (one whose claim is gone is skipped).
      const list = batch.length > 0 ? batch.map((e) => e.job) : [job];
      for (const claimed of list) await recordFailure(claimed, kind, err);
    } finally {
      clearTimeout(timer);
    }
  }

  function start(job: jobs.ClaimedJob) {
    const handler = byKind.get(job.kind)!;
    const controller = new AbortController();
    const done = run(job, handler, controller).finally(() => {
      inflight.delete(`job:${job.id}`);
      wake();
    });
    inflight.set(`job:${job.id}`, { controller, done, slot: true });
  }

  /**
   * Runs one claimed batch of a row queue in a slot, under the queue's time limit. A batch that
   * throws (or is aborted: its limit passed, the instance is stopping) gives its rows back: due
   * again after ROW_QUEUE_RETRY_MS, or at once when the instance stops (another instance takes
   * them). Rows it already recorded are no longer under its token, so they stay recorded.
   */
  function startBatch(queue: RowQueue<unknown>, permits: Permits, token: string, batch: unknown) {
    const key = `${queue.kind}:${token}`;
    const rank = ++batchesStarted;
    const controller = new AbortController();
    const ctx = systemCtx(key);
    const limit = queue.timeoutMs(config);
    const timer = setTimeout(() => controller.abort(new Error(`The run took longer than its ${limit} ms limit`)), limit);
    const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true }));
    aborted.catch(() => {});
    const entry = { controller, done: Promise.resolve(), slot: true };
    // Every request of the batch has started: its slot can take the next batch, whose requests
    // start as this one's end (the permits bound them together).
    const dispatched = () => {
      if (!entry.slot) return;
      entry.slot = false;
      wake();
    };
    entry.done = (async () => {
      try {
        await Promise.race([queue.run(ctx, batch, controller.signal, dispatched, permits.forBatch(rank)), aborted]);
        metrics?.jobRun(queue.kind, "succeeded");
      } catch (err) {
        metrics?.jobRun(queue.kind, "failed");
        log.warn(`[jobs] ${queue.kind} batch ${token} failed; its rows are given back: ${errorText(err)}`);
        try {
          await queue.release(ctx, token, stopping ? 0 : ROW_QUEUE_RETRY_MS);
        } catch (e) {
          // The database is unreachable: the claims' leases run out and the rows are claimed again.
          log.error(`[jobs] ${queue.kind} batch ${token}: could not give its rows back: ${errorText(e)}`);
        }
      } finally {
        clearTimeout(timer);
      }
    })().finally(() => {
      inflight.delete(key);
      wake();
    });
    inflight.set(key, entry);
  }

  /**
   * Claims batches of the row queues while slots are free, one claim per free slot at once (each
   * on its own connection; SKIP LOCKED keeps them apart): after full batches, more (more may be due).
   */
  async function claimBatches() {
    for (const { queue, leaseMs, permits } of queues) {
      while (!stopping) {
        const free = freeSlots();
        if (free === 0) break;
        const claims = await Promise.all(
          Array.from({ length: free }, async () => {
            const token = crypto.randomUUID();
            const claimed = await queue.claim(systemCtx(`${queue.kind}:${token}`), { token, leaseMs });
            if (claimed) startBatch(queue, permits, token, claimed.batch);
            return claimed;
          }),
        );
        if (claims.some((c) => !c || !c.full)) break;
      }
    }
  }

  let unlisten: (() => Promise<unknown>) | null = null;
  async function listen() {
    if (!config.jobListen) return;
    try {
      unlisten = await jobs.listen(database, CHANNEL, wake);
      if (!unlisten) log.info(`[jobs] no direct database URL to LISTEN on behind the pooler; polling every ${config.jobPollIntervalMs} ms`);
    } catch (err) {
      log.warn(`[jobs] LISTEN ${CHANNEL} failed; relying on polling every ${config.jobPollIntervalMs} ms: ${errorText(err)}`);
    }
  }

  async function loop() {
    await listen();
    let registered = false;
    let nextPeriodicCheck = 0;
    let failures = 0;
    while (!stopping) {
      wakePending = false;
      let full = false;
      try {
        if (!registered) {
          await jobs.registerSchedules(db, periodic);
          registered = true;
        }
        if (periodic.length > 0 && Date.now() >= nextPeriodicCheck) {
          nextPeriodicCheck = Date.now() + config.jobPollIntervalMs;
          await jobs.enqueueDuePeriodic(db, periodic.map((p) => p.kind));
        }
        const free = freeSlots();
        if (free > 0) {
          const claimed = await jobs.claim(db, { kinds: claimable, limit: free, instanceId });
          for (const job of claimed) start(job);
          full = claimed.length === free;
        }
        await claimBatches();
        failures = 0;
      } catch (err) {
        failures++;
        if (failures === 1 || failures % 60 === 0) log.error(`[jobs] polling failed (${failures}×): ${errorText(err)}`);
      }
      if (stopping) break;
      // More may be due when a full batch came back; otherwise wait for the interval, a
      // notification or a free slot.
      if (full && freeSlots() > 0) continue;
      await sleep(failures > 0 ? Math.max(config.jobPollIntervalMs, 1000) : config.jobPollIntervalMs);
    }
  }

  const looping = loop();

  return {
    instanceId,
    wake,
    async stop(graceMs = config.shutdownGraceSeconds * 1000) {
      stopping = true;
      wake();
      await looping;
      await unlisten?.().catch(() => {});
      const running = () => Promise.allSettled([...inflight.values()].map((r) => r.done));
      if (inflight.size > 0) await Promise.race([running(), Bun.sleep(graceMs)]);
      for (const r of inflight.values()) r.controller.abort(new Error("The instance is stopping"));
      await running();
    },
  };
}
