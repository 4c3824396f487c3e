import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { invoicesAutoClose } from "../../server/jobs/kinds";
import * as jobs from "../../server/jobs/service";
import { ctxFor } from "../support/actors";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import type { ServerProcess } from "../support/server-process";
import { startProcess } from "../support/server-process";
import { waitFor } from "../support/wait";

/**
 * The automatic close run by two real server processes at the same moment (docs/billing.md,
 * "Numbering"): both job runners run `invoices.auto_close` at once over the same months, and the
 * invoices they issue together take consecutive numbers with no gap and no duplicate, one per
 * organization and month. Only the database can make that true: neither process knows about the other.
 *
 * Skipped on PGlite: an embedded database belongs to the one process that opened it.
 */
const onPostgres = TEST_DB_KIND === "postgres";
const database = onPostgres ? await testDatabase() : undefined!;
const ORGS = 24;
const DAY_MS = 86_400_000;
let procs: ServerProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
});

/** "YYYY-MM" of every month from `first` whose end is at least 3 days (the default grace period) before `now`. */
function closableMonths(first: Date, now: Date): string[] {
  const out: string[] = [];
  for (let y = first.getUTCFullYear(), m = first.getUTCMonth(); ; m++) {
    const end = new Date(Date.UTC(y, m + 1, 1));
    if (end.getTime() > now.getTime() - 3 * DAY_MS) return out;
    out.push(end.getUTCMonth() === 0 ? `${end.getUTCFullYear() - 1}-12` : `${end.getUTCFullYear()}-${String(end.getUTCMonth()).padStart(2, "0")}`);
  }
}

describe.skipIf(!onPostgres)("the automatic close in two server processes at once", () => {
  test("consecutive numbers with no gap and no duplicate, each month finalized once", async () => {
    const ctx = ctxFor(database);
    const now = new Date();
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 5, 1));
    const createdAt = first.toISOString();
    for (let i = 0; i < ORGS; i++) {
      const org = await makeOrg(ctx, { billing_rate_per_agent: `${10 + i}.00`, created_at: createdAt });
      await makeAgent(ctx, { org_id: org.id, created_at: createdAt });
    }
    const months = closableMonths(first, now);
    expect(months.length).toBeGreaterThanOrEqual(4);
    // Both instances are up and polling before the two closes are queued; one job at a time per
    // instance, so neither can take both while the first run lasts (seconds), whatever the load
    // while they started.
    const env = { DATABASE_URL: database.url!, ADMIN_API_KEY: "multi-instance-close-key", WEB_DIR: "", JOB_CONCURRENCY: "1", JOB_POLL_INTERVAL_MS: "50" };
    procs = await Promise.all([startProcess("server/index.ts", env), startProcess("server/index.ts", env)]);
    await jobs.enqueue(database.db, invoicesAutoClose, {}, { key: "instance-test-1" });
    await jobs.enqueue(database.db, invoicesAutoClose, {}, { key: "instance-test-2" });

    // Which instances ran a close, seen while they ran.
    const runners = new Set<string>();
    const expected = ORGS * months.length;
    await waitFor(
      "both closes done",
      async () => {
        const running = await rows<{ by: string | null; state: string }>(database.db, sql`select locked_by as by, state from jobs where kind = ${invoicesAutoClose.kind}`);
        for (const r of running) if (r.state === "running" && r.by) runners.add(r.by.split("-")[0]!);
        const [issued] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from invoices`);
        return running.every((r) => r.state === "queued" && r.by === null) && issued!.n === expected && running.length <= 1;
      },
      120_000,
      10,
    );
    // Both processes ran the close.
    expect([...runners].sort()).toEqual(procs.map((p) => String(p.pid)).sort());

    const numbers = await rows<{ sequence: number; number: string; org: string; month: string }>(
      database.db,
      sql`select sequence::int as sequence, number, org_id::text as org, to_char(month, 'YYYY-MM') as month from invoices where status = 'finalized' order by sequence`,
    );
    expect(numbers.length).toBe(expected);
    // Consecutive from 1, no gap, no duplicate.
    expect(numbers.map((n) => n.sequence)).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
    expect(new Set(numbers.map((n) => n.number)).size).toBe(expected);
    // Each organization's closable months once.
    const byOrg = new Map<string, string[]>();
    for (const n of numbers) byOrg.set(n.org, [...(byOrg.get(n.org) ?? []), n.month]);
    expect(byOrg.size).toBe(ORGS);
    for (const list of byOrg.values()) expect(list.sort()).toEqual(months);
    const [counter] = await rows<{ n: number }>(database.db, sql`select last_number::int as n from invoice_counter`);
    expect(counter!.n).toBe(expected);
    const [failed] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from jobs where kind = ${invoicesAutoClose.kind} and state = 'failed'`);
    expect(failed!.n).toBe(0);
  }, 180_000);
});
