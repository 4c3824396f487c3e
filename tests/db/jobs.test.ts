import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { type Database, migrate, openPglite, openPostgres, rows } from "../../db/client";
import type { Config } from "../../server/config";
import { JOB_HANDLERS } from "../../server/jobs/handlers";
import { JOB_KINDS, jobHandler, jobKind, type JobHandler, type RowQueue } from "../../server/jobs/kinds";
import { type JobRunner, ROW_QUEUE_RETRY_MS, startJobRunner } from "../../server/jobs/runner";
import * as jobs from "../../server/jobs/service";
import { TEST_CONFIG } from "../support/actors";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { waitFor } from "../support/wait";

/**
 * The job runner (docs/architecture.md, "Background jobs"): jobs exist only when the transaction
 * that enqueued them commits, run once their time has come, are retried on their schedule, survive
 * a restart, and — with several runners on separate connections — have their effects exactly once.
 * Every test runs on PostgreSQL and on PGlite.
 */

const database = await testDatabase({ max: 12 });
const db = database.db;
const config: Config = { ...TEST_CONFIG, jobPollIntervalMs: 50, jobConcurrency: 4, jobListen: true };

// Effects of the test kinds: one row per effect, so a job that ran twice shows up as two rows.
await db.execute(sql`create table test_job_effects (id bigserial primary key, job_id bigint not null, label text not null, at timestamptz not null default clock_timestamp())`);
const effects = async (label: string) => rows<{ job_id: string; at: Date | string }>(db, sql`select job_id, at from test_job_effects where label = ${label} order by id`);

const runners: JobRunner[] = [];
const start = (handlers: JobHandler[], overrides: Partial<Config> = {}, on: Database = database, leaseMarginMs?: number) => {
  const runner = startJobRunner({ database: on, config: { ...config, ...overrides }, handlers, leaseMarginMs });
  runners.push(runner);
  return runner;
};
// Each test's runners stop with it (before the database closes after the file).
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop(1000)));
});

/** A kind whose run writes one effect row and completes in the same transaction. */
function effectKind(name: string, options: { retryDelaysMs?: number[]; timeoutMs?: number; everyMs?: number; failTimes?: number } = {}) {
  const kind = jobKind({
    kind: name,
    payload: z.object({ label: z.string() }).or(z.object({})),
    retryDelaysMs: options.retryDelaysMs ?? [],
    timeoutMs: () => options.timeoutMs ?? 5000,
    everyMs: options.everyMs,
  });
  let failures = 0;
  const handler = jobHandler(kind, async ({ payload, job, ctx, complete }) => {
    if (failures < (options.failTimes ?? 0)) {
      failures++;
      await db.execute(sql`insert into test_job_effects (job_id, label) values (${job.id}, ${`${name}:failed-run`})`);
      throw new Error(`run ${failures} fails on purpose`);
    }
    const label = "label" in payload ? payload.label : name;
    await ctx.db.transaction(async (tx) => {
      await tx.execute(sql`insert into test_job_effects (job_id, label) values (${job.id}, ${label})`);
      await complete(tx);
    });
  });
  return { kind, handler };
}

describe("job kinds", () => {
  test("every declared kind has exactly one handler, and every handler a declared kind", () => {
    const declared = JOB_KINDS.map((k) => k.kind).sort();
    const handled = JOB_HANDLERS.map((h) => h.kind.kind).sort();
    expect(handled).toEqual(declared);
    expect(new Set(handled).size).toBe(handled.length);
  });

  test("a payload that does not match its kind's schema is refused when enqueued", async () => {
    const { kind } = effectKind("test.strict");
    const strict = jobKind({ ...kind, payload: z.strictObject({ label: z.string() }) });
    await expect(db.transaction((tx) => jobs.enqueue(tx, strict, { label: 42 } as never))).rejects.toThrow();
  });
});

describe("batches: a run takes more jobs of its kind", () => {
  /** A kind whose run claims up to 9 more jobs and writes one effect per job in one transaction; the first run of all throws after claiming. */
  function batchKind(name: string) {
    const kind = jobKind({ kind: name, payload: z.object({ label: z.string() }), retryDelaysMs: [100], timeoutMs: () => 5000 });
    let runs = 0;
    const handler = jobHandler(kind, async (run) => {
      const all = [run, ...(await run.claimMore(9))];
      if (runs++ === 0) throw new Error("the first batch fails after claiming");
      await run.ctx.db.transaction(async (tx) => {
        for (const r of all) await tx.execute(sql`insert into test_job_effects (job_id, label) values (${r.job.id}, ${r.payload.label})`);
        await run.completeAll(tx, all);
      });
    });
    return { kind, handler };
  }

  test("every job of a batch runs once; a batch that throws sends each of its jobs back on its schedule", async () => {
    const { kind, handler } = batchKind("test.batch");
    await db.transaction((tx) => jobs.enqueueMany(tx, kind, Array.from({ length: 25 }, (_, i) => ({ payload: { label: `batch-${i}` } }))));
    start([handler], { jobConcurrency: 1 });
    // Well before the claims' lease (5 s + 5 s) runs out: the failed batch's jobs were sent back at once, not left to expire.
    await waitFor("all 25 effects", async () => (await rows(db, sql`select 1 from test_job_effects where label like 'batch-%'`)).length === 25, 4000);
    await Bun.sleep(200);
    const done = await rows<{ label: string; n: number }>(db, sql`select label, count(*)::int as n from test_job_effects where label like 'batch-%' group by label`);
    expect(done.length).toBe(25);
    expect(done.every((d) => Number(d.n) === 1)).toBe(true);
    // The failed first batch's jobs were retried (attempts counted), none left behind.
    expect(await rows(db, sql`select id from jobs where kind = 'test.batch'`)).toEqual([]);
  });
});

describe("row queues: rows that are their own queue entries", () => {
  test("batches are claimed while slots are free; one that throws gives its rows back after a pause, one cut off by a stop gives them back at once", async () => {
    const released: { token: string; delayMs: number }[] = [];
    const ran: string[] = [];
    const hang = Promise.withResolvers<void>();
    let claims = 0;
    // Three batches to claim: the first full (so the runner claims again at once), the second not.
    const queue: RowQueue<number> = {
      kind: "test.rows",
      inFlight: 1,
      timeoutMs: () => 5000,
      claim: async (_ctx, { token, leaseMs }) => {
        expect(leaseMs).toBe(5000 + 5000);
        ran.push(token);
        claims++;
        return claims <= 2 ? { batch: claims, full: claims === 1 } : null;
      },
      run: async (_ctx, n) => {
        if (n === 1) throw new Error("the first batch fails");
        await hang.promise;
      },
      release: async (_ctx, token, delayMs) => {
        released.push({ token, delayMs });
      },
    };
    const runner = startJobRunner({ database, config, handlers: [], queues: [queue] });
    await waitFor("the failed batch given back", () => released.length === 1, 4000);
    expect(released[0]).toEqual({ token: ran[0]!, delayMs: ROW_QUEUE_RETRY_MS });
    // The second batch hangs in its slot until the runner stops: given back due at once.
    await runner.stop(100);
    expect(released).toEqual([
      { token: ran[0]!, delayMs: ROW_QUEUE_RETRY_MS },
      { token: ran[1]!, delayMs: 0 },
    ]);
    hang.resolve();
  });

  test("a batch that has started all of its requests gives its slot to the next one; never more than twice JOB_CONCURRENCY batches at once", async () => {
    // JOB_CONCURRENCY 2; eight batches due. Each batch says it has started every request, then waits for their answers and records until released.
    const recording = new Set<number>();
    const sending = new Set<number>();
    let most = { sending: 0, total: 0 };
    const records: PromiseWithResolvers<void>[] = [];
    const sends: PromiseWithResolvers<void>[] = [];
    let claimed = 0;
    const queue: RowQueue<number> = {
      kind: "test.rows.record",
      inFlight: 1,
      timeoutMs: () => 5000,
      claim: async () => (claimed < 8 ? { batch: ++claimed, full: true } : null),
      run: async (_ctx, n, _signal, dispatched) => {
        sending.add(n);
        most = { sending: Math.max(most.sending, sending.size), total: Math.max(most.total, sending.size + recording.size) };
        await (sends[n] = Promise.withResolvers<void>()).promise;
        sending.delete(n);
        recording.add(n);
        dispatched();
        await (records[n] = Promise.withResolvers<void>()).promise;
        recording.delete(n);
      },
      release: async () => {},
    };
    const runner = startJobRunner({ database, config: { ...config, jobConcurrency: 2 }, handlers: [], queues: [queue] });
    try {
      await waitFor("two batches sending", () => sending.size === 2, 4000);
      // Both have started everything: their slots go to batches 3 and 4 while 1 and 2 still record.
      sends[1]!.resolve();
      sends[2]!.resolve();
      await waitFor("batches 3 and 4 sending beside two recording", () => sending.size === 2 && recording.size === 2 && sending.has(3) && sending.has(4), 4000);
      // Four batches in flight (2 × JOB_CONCURRENCY): 3 and 4 done starting, but no fifth starts until a recording ends.
      sends[3]!.resolve();
      sends[4]!.resolve();
      await waitFor("four recording", () => recording.size === 4, 4000);
      await Bun.sleep(300);
      expect(sending.size).toBe(0);
      expect(claimed).toBe(4);
      records[1]!.resolve();
      await waitFor("a fifth batch once a recording ended", () => sending.has(5), 4000);
      expect(most).toEqual({ sending: 2, total: 4 });
    } finally {
      for (const p of [...sends, ...records]) p?.resolve();
      await runner.stop(1000);
    }
  });

  test("a queue's batches share JOB_CONCURRENCY × inFlight permits for their requests, the older batch's first", async () => {
    // JOB_CONCURRENCY 2, 3 requests per slot: 6 permits. Batch 1 takes all six and starts its
    // last request; batch 2, claimed into the freed slot, waits for permits until batch 1 gives
    // them back, though a slot was free for it.
    const held = new Map<number, number>();
    const gave = new Map<number, () => void>();
    const started: number[] = [];
    let size = 0;
    let claimed = 0;
    let secondDue = false;
    const queue: RowQueue<number> = {
      kind: "test.rows.permits",
      inFlight: 3,
      timeoutMs: () => 5000,
      claim: async () => (claimed === 0 || (claimed === 1 && secondDue) ? { batch: ++claimed, full: false } : null),
      run: async (_ctx, n, _signal, dispatched, permits) => {
        size = permits.size;
        started.push(n);
        const wanted = n === 1 ? permits.size : 2;
        for (let i = 0; i < wanted; i++) {
          await permits.acquire();
          held.set(n, (held.get(n) ?? 0) + 1);
        }
        if (n === 1) dispatched();
        await new Promise<void>((resolve) => gave.set(n, resolve));
        for (let i = 0; i < wanted; i++) permits.release();
        held.set(n, 0);
      },
      release: async () => {},
    };
    const runner = startJobRunner({ database, config: { ...config, jobConcurrency: 2 }, handlers: [], queues: [queue] });
    try {
      await waitFor("batch 1 holding every permit", () => held.get(1) === 6, 4000);
      expect(size).toBe(6);
      secondDue = true;
      runner.wake();
      await waitFor("batch 2 started", () => started.includes(2), 4000);
      await Bun.sleep(200);
      expect(held.get(2) ?? 0).toBe(0);
      gave.get(1)!();
      await waitFor("batch 2 holding its permits", () => held.get(2) === 2, 4000);
    } finally {
      for (const resolve of gave.values()) resolve();
      await runner.stop(1000);
    }
  });
});

describe("enqueue in the caller's transaction", () => {
  test("a job enqueued in a transaction that rolls back never exists; one that commits runs", async () => {
    const { kind, handler } = effectKind("test.tx");
    await db
      .transaction(async (tx) => {
        await jobs.enqueue(tx, kind, { label: "rolled-back" });
        throw new Error("the change fails");
      })
      .catch(() => {});
    await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "committed" }));
    start([handler]);
    await waitFor("the committed job to run", async () => (await effects("committed")).length === 1);
    await Bun.sleep(200);
    expect(await effects("rolled-back")).toEqual([]);
    const left = await rows(db, sql`select id from jobs where kind = 'test.tx'`);
    expect(left).toEqual([]);
  });

  test("enqueueing a key that is already queued moves that job earlier instead of adding one", async () => {
    const { kind } = effectKind("test.keyed");
    const later = new Date(Date.now() + 3_600_000);
    const first = await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "k" }, { key: "one", runAt: later }));
    const second = await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "k" }, { key: "one", delayMs: 60_000 }));
    expect(second).toBe(first);
    const [row] = await rows<{ n: number; run_at: string }>(db, sql`select count(*)::int as n, min(run_at)::text as run_at from jobs where kind = 'test.keyed'`);
    expect(Number(row!.n)).toBe(1);
    expect(new Date(row!.run_at).getTime()).toBeLessThan(later.getTime() - 3_000_000);
  });
});

describe("timing", () => {
  test("a delayed job does not run before its time, and runs after it", async () => {
    const { kind, handler } = effectKind("test.delayed");
    const enqueuedAt = Date.now();
    await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "delayed" }, { delayMs: 1200 }));
    start([handler]);
    await Bun.sleep(600);
    expect(await effects("delayed")).toEqual([]);
    const [done] = await waitFor("the delayed job to run", async () => ((await effects("delayed")).length > 0 ? effects("delayed") : null));
    expect(new Date(done!.at).getTime() - enqueuedAt).toBeGreaterThanOrEqual(1200 - 50);
  });

  test("a run that throws is retried after each delay of its schedule and then succeeds", async () => {
    const { kind, handler } = effectKind("test.retried", { retryDelaysMs: [300, 600, 10_000], failTimes: 2 });
    await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "retried" }));
    start([handler]);
    await waitFor("the third run to succeed", async () => (await effects("retried")).length === 1);
    const runs = [...(await effects("test.retried:failed-run")), ...(await effects("retried"))].map((r) => new Date(r.at).getTime());
    expect(runs).toHaveLength(3);
    // Lower bounds only: the schedule is a minimum, the machine may be slower.
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(300 - 50);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(600 - 50);
  });

  test("a job whose runs keep failing ends failed with its last error once its schedule is used up", async () => {
    const { kind, handler } = effectKind("test.doomed", { retryDelaysMs: [100, 100], failTimes: 99 });
    await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "doomed" }));
    start([handler]);
    const failedJob = () => rows<{ attempts: number; last_error: string }>(db, sql`select attempts, last_error from jobs where kind = 'test.doomed' and state = 'failed'`);
    const [failed] = await waitFor("the job to fail", async () => ((await failedJob()).length > 0 ? failedJob() : null));
    expect(failed!.attempts).toBe(3);
    expect(failed!.last_error).toContain("run 3 fails on purpose");
    expect(await effects("test.doomed:failed-run")).toHaveLength(3);
    const stats = await jobs.queueStats(db);
    expect(stats.kinds.find((k) => k.kind === "test.doomed")?.failed).toBe(1);
  });

  test("an idle runner is woken by the commit of a new job (LISTEN/NOTIFY), not only by its poll", async () => {
    const { kind, handler } = effectKind("test.woken");
    const runner = start([handler], { jobPollIntervalMs: 60_000 });
    // Let the runner make its first (empty) poll and fall asleep for a minute.
    await Bun.sleep(500);
    await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "woken" }));
    await waitFor("the job to run long before the next poll", async () => (await effects("woken")).length === 1, 10_000);
    await runner.stop(1000);
  });
});

describe("visibility and clean-up", () => {
  test("queue stats report what is due, scheduled, running and failed, and how late the oldest due job is", async () => {
    const { kind } = effectKind("test.stats");
    await db.transaction((tx) =>
      jobs.enqueueMany(tx, kind, [
        { payload: { label: "late" }, runAt: new Date(Date.now() - 90_000) },
        { payload: { label: "due" } },
        { payload: { label: "later" }, delayMs: 3_600_000 },
        { payload: { label: "claimed" }, runAt: new Date(Date.now() - 1000) },
      ]),
    );
    await jobs.claim(db, { kinds: [{ kind: kind.kind, leaseMs: 60_000 }], limit: 1, instanceId: "stats" });
    const stats = await jobs.queueStats(db);
    const mine = stats.kinds.find((k) => k.kind === "test.stats")!;
    expect(mine).toMatchObject({ due: 2, scheduled: 1, running: 1, failed: 0 });
    // The claim took the oldest (90 s late); the oldest still due is about 1 s late.
    expect(mine.lag_seconds).toBeGreaterThanOrEqual(0.9);
    expect(mine.lag_seconds).toBeLessThan(60);
    expect(stats.due).toBeGreaterThanOrEqual(2);
    await db.execute(sql`delete from jobs where kind = 'test.stats'`);
  });

  test("failed jobs are kept for inspection and pruned after their retention", async () => {
    const { kind } = effectKind("test.prune");
    const [oldId, recentId] = await db.transaction((tx) => jobs.enqueueMany(tx, kind, [{ payload: { label: "old" } }, { payload: { label: "recent" } }]));
    await db.execute(sql`update jobs set state = 'failed', failed_at = now() - interval '31 days' where id = ${oldId}`);
    await db.execute(sql`update jobs set state = 'failed', failed_at = now() - interval '1 day' where id = ${recentId}`);
    expect(await jobs.pruneFailed(db, 30 * 24 * 3600 * 1000)).toBe(1);
    expect((await rows<{ id: string }>(db, sql`select id from jobs where kind = 'test.prune'`)).map((r) => Number(r.id))).toEqual([recentId!]);
    await db.execute(sql`delete from jobs where kind = 'test.prune'`);
  });
});

describe("periodic jobs", () => {
  test("run once per period across two runners", async () => {
    const everyMs = 300;
    const { handler } = effectKind("test.periodic", { everyMs });
    const other = TEST_DB_KIND === "postgres" ? openPostgres(database.url!, { max: 4 }) : database;
    const a = start([handler]);
    const b = start([handler], {}, other);
    await Bun.sleep(2500);
    await Promise.all([a.stop(1000), b.stop(1000)]);
    if (other !== database) await other.close();
    const created = await rows<{ job_id: string }>(db, sql`select job_id from test_job_effects where label = 'test.periodic'`);
    expect(created.length).toBeGreaterThanOrEqual(3);
    // Each run is its own job, and the schedule row allowed one job per period.
    expect(new Set(created.map((r) => r.job_id)).size).toBe(created.length);
    const [schedule] = await rows<{ every_ms: number }>(db, sql`select every_ms from job_schedules where kind = 'test.periodic'`);
    expect(Number(schedule!.every_ms)).toBe(everyMs);
    expect(created.length).toBeLessThanOrEqual(Math.ceil(2500 / everyMs) + 2);
  });
});

describe("several runners, one queue", () => {
  let second: Database;
  beforeAll(async () => {
    // On PostgreSQL a second runner has its own connections, like another instance.
    second = TEST_DB_KIND === "postgres" ? openPostgres(database.url!, { max: 6 }) : database;
  });
  afterAll(async () => {
    if (second !== database) await second.close();
  });

  test("two runners on separate connections never run one job's effect twice", async () => {
    const { kind, handler } = effectKind("test.shared");
    const n = TEST_DB_KIND === "postgres" ? 300 : 120;
    await db.transaction((tx) => jobs.enqueueMany(tx, kind, Array.from({ length: n }, (_, i) => ({ payload: { label: `shared-${i}` } }))));
    const a = start([handler], { jobConcurrency: 4 });
    const b = start([handler], { jobConcurrency: 4 }, second);
    await waitFor("every job to run", async () => (await rows(db, sql`select 1 from jobs where kind = 'test.shared' limit 1`)).length === 0, 60_000);
    await Promise.all([a.stop(1000), b.stop(1000)]);
    const counted = await rows<{ label: string; n: number }>(db, sql`select label, count(*)::int as n from test_job_effects where label like 'shared-%' group by label`);
    expect(counted).toHaveLength(n);
    expect(counted.filter((c) => Number(c.n) !== 1)).toEqual([]);
  });

  test("a claim whose lease ran out is taken over, and the first run can no longer commit its effects", async () => {
    // One retry allowed: a claim whose instance never finished counts as a run.
    const { kind, handler } = effectKind("test.lease", { timeoutMs: 200, retryDelaysMs: [100] });
    await db.transaction((tx) => jobs.enqueue(tx, kind, { label: "lease" }));
    // An instance claims the job and then stops answering (killed, partitioned, frozen).
    const [stale] = await jobs.claim(db, { kinds: [{ kind: kind.kind, leaseMs: 300 }], limit: 1, instanceId: "frozen" });
    expect(stale).toBeDefined();
    // While its lease lasts nobody else may take it.
    expect(await jobs.claim(second.db, { kinds: [{ kind: kind.kind, leaseMs: 300 }], limit: 1, instanceId: "eager" })).toEqual([]);
    const runner = start([handler], {}, second, 50);
    await waitFor("another runner to take the job over", async () => (await effects("lease")).length === 1);
    await runner.stop(1000);
    // The frozen instance wakes up and tries to commit its run: its claim is gone, so it rolls back.
    const late = db.transaction(async (tx) => {
      await tx.execute(sql`insert into test_job_effects (job_id, label) values (${stale!.id}, 'lease')`);
      await jobs.complete(tx, stale!);
    });
    await expect(late).rejects.toBeInstanceOf(jobs.JobClaimLost);
    expect(await effects("lease")).toHaveLength(1);
  });
});

describe("restarts", () => {
  test("jobs queued before a restart (even one claimed by the stopped instance) run after it, on a new connection", async () => {
    const { kind, handler } = effectKind("test.restart", { timeoutMs: 200, retryDelaysMs: [100] });
    let dir: string | undefined;
    let before: Database;
    if (TEST_DB_KIND === "postgres") {
      before = openPostgres(database.url!, { max: 2 });
    } else {
      // An embedded database restarts from its directory.
      dir = mkdtempSync(join(tmpdir(), "orgdesk-jobs-"));
      before = await openPglite(dir);
      await migrate(before);
      await before.db.execute(sql`create table test_job_effects (id bigserial primary key, job_id bigint not null, label text not null, at timestamptz not null default clock_timestamp())`);
    }
    await before.db.transaction((tx) => jobs.enqueueMany(tx, kind, [{ payload: { label: "restart-queued" } }, { payload: { label: "restart-claimed" } }]));
    // The old instance had claimed one of them when it stopped.
    expect(await jobs.claim(before.db, { kinds: [{ kind: kind.kind, leaseMs: 250 }], limit: 1, instanceId: "stopped" })).toHaveLength(1);
    await before.close();

    const after = dir ? await openPglite(dir) : openPostgres(database.url!, { max: 2 });
    const runner = startJobRunner({ database: after, config, handlers: [handler] });
    try {
      const labels = async () => (await rows<{ label: string }>(after.db, sql`select label from test_job_effects where label like 'restart-%' order by label`)).map((r) => r.label);
      await waitFor("both jobs to run after the restart", async () => (await labels()).length >= 2);
      await Bun.sleep(300);
      expect(await labels()).toEqual(["restart-claimed", "restart-queued"]);
    } finally {
      await runner.stop(1000);
      await after.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
});
