import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { type Database, openPostgres } from "../../db/client";
import { startServer } from "../../server/index";
import { TEST_CONFIG } from "../support/actors";
import { makeKey } from "../support/access";
import { TEST_DB_KIND } from "../support/db";
import { client } from "../support/http";
import { noteSecret } from "../support/log-capture";
import { delta, scrape, series } from "../support/metrics";
import { type Standby, startPrimaryAndStandby } from "../support/standby";

/**
 * Reports from a streaming replica (docs/scaling.md, Read replica), against a real hot standby made
 * by `pg_basebackup -R` from a private primary. What is checked: a report of a caller that did not
 * write comes from the standby (its figures are the standby's while replay is paused); a caller's
 * report after its own write comes from the primary, through either of two instances; a standby
 * further behind than the bound is not used; a standby that is down costs a fallback to the
 * primary, never an error, and is used again once it is back.
 */
const onPostgres = TEST_DB_KIND === "postgres";
const TOKEN = "replica-metrics-token";
const MONTH = "2025-03";
// At the top level: the clusters' own clean-up hooks must belong to the file, not to a hook.
const made = onPostgres ? await startPrimaryAndStandby() : undefined;

describe.skipIf(!onPostgres)("report reads on a streaming replica", () => {
  const standby: Standby = made?.standby as Standby;
  let primaryDb: Database;
  let a: Awaited<ReturnType<typeof startServer>>;
  let b: Awaited<ReturnType<typeof startServer>>;
  let laggingBound: Awaited<ReturnType<typeof startServer>>;
  let orgId: string;
  let agentId: string;
  let writerKey: string;
  let readerKey: string;
  let seq = 0;

  beforeAll(async () => {
    const { primary } = made!;
    const admin = postgres(primary.url("postgres"), { max: 1, onnotice: () => {} });
    await admin`create database orgdesk`;
    await admin.end();
    // No background jobs: their writes would move the standby's replay position under the figures
    // this test counts (which route each report took).
    const config = { ...TEST_CONFIG, port: 0, webDir: undefined, jobsEnabled: false, metricsToken: TOKEN, databaseUrl: primary.url("orgdesk"), databaseReplicaUrl: standby.url("orgdesk") };
    // Two instances behind a load balancer, and one whose lag bound is 2 seconds.
    a = await startServer(config);
    b = await startServer(config);
    laggingBound = await startServer({ ...config, replicaMaxLagSeconds: 2 });
    primaryDb = openPostgres(primary.url("orgdesk"), { max: 2 });
    writerKey = (await makeKey(primaryDb, "write")).key;
    // A write key that never writes (exports need more than read permission).
    readerKey = (await makeKey(primaryDb, "write")).key;
    noteSecret(TOKEN, "METRICS_TOKEN");
    const admin2 = client(a.url, TEST_CONFIG.adminApiKey);
    orgId = (await admin2.post("/api/organizations", { name: "Replica Co", created_at: "2025-01-01T00:00:00Z" })).body.id;
    agentId = (await admin2.post("/api/agents", { name: "Replica Agent", org_id: orgId, created_at: "2025-01-01T00:00:00Z" })).body.id;
    await ingest(client(a.url, writerKey), 2);
    await standby.caughtUp();
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), laggingBound?.stop()]);
    await primaryDb?.close();
  });

  /** Sends `n` events of 1000 input tokens each for March 2025. */
  async function ingest(api: ReturnType<typeof client>, n: number) {
    const events = Array.from({ length: n }, () => ({ id: `replica-${seq++}`, agent_id: agentId, model: "gpt-4o", input_tokens: 1000, output_tokens: 0, cost_usd: "1.00", occurred_at: "2025-03-10T00:00:00Z" }));
    const res = await api.post("/api/usage", { events });
    expect(res.body.accepted).toBe(n);
  }
  /** The March cost in the billing summary as `key` reads it through `base`. */
  async function cost(base: string, key: string): Promise<string> {
    const res = await client(base, key).get(`/api/organizations/${orgId}/billing-summary?from=${MONTH}&to=${MONTH}`);
    expect(res.status).toBe(200);
    return res.body.totals.total_cost_usd;
  }
  const reads = (before: Map<string, number>, after: Map<string, number>, database: string, reason: string) => delta(before, after, "orgdesk_report_reads_total", { database, reason });

  test("a report comes from the standby; the writer's own report after its write comes from the primary, on every instance", async () => {
    expect(await cost(a.url, readerKey)).toBe(await cost(a.url, writerKey));
    const stale = await cost(a.url, readerKey);
    await standby.pauseReplay();
    try {
      const before = await scrape(a.url, TOKEN);
      await ingest(client(a.url, writerKey), 3);
      // The reader's report is the standby's: replay is paused, so it still shows the old figure.
      expect(await cost(a.url, readerKey)).toBe(stale);
      // The writer reads its write, through the instance it wrote to and through the other one.
      const fresh = await cost(a.url, writerKey);
      expect(Number(fresh) - Number(stale)).toBe(3);
      expect(await cost(b.url, writerKey)).toBe(fresh);
      const after = await scrape(a.url, TOKEN);
      expect(reads(before, after, "replica", "replica")).toBe(1);
      expect(reads(before, after, "primary", "own_write")).toBe(1);
      expect(after.get(series("orgdesk_db_replica_up"))).toBe(1);
    } finally {
      await standby.resumeReplay();
    }
    await standby.caughtUp();
    // An instance looks at the standby's position at most every 250 ms and keeps erring on the
    // primary's side meanwhile (server/modules/reads/service.ts); let its last look expire.
    await Bun.sleep(300);
    // Caught up: both read the same figures, and the writer is back on the standby.
    const before = await scrape(b.url, TOKEN);
    expect(await cost(b.url, readerKey)).toBe(await cost(b.url, writerKey));
    const after = await scrape(b.url, TOKEN);
    expect(reads(before, after, "replica", "replica")).toBe(2);
  });

  test("a standby further behind than DATABASE_REPLICA_MAX_LAG_S is not used", async () => {
    await standby.pauseReplay();
    try {
      await ingest(client(a.url, writerKey), 1);
      const fresh = await cost(a.url, writerKey);
      // Paused with a write pending: the lag grows past the 2-second bound of one instance.
      await Bun.sleep(2600);
      const before = await scrape(laggingBound.url, TOKEN);
      expect(await cost(laggingBound.url, readerKey)).toBe(fresh);
      const after = await scrape(laggingBound.url, TOKEN);
      expect(reads(before, after, "primary", "replica_lagging")).toBe(1);
      expect(after.get(series("orgdesk_db_replica_lag_seconds"))).toBeGreaterThan(2);
      // The other instances (bound 30 s) still use the standby, with its older figures.
      expect(await cost(a.url, readerKey)).not.toBe(fresh);
    } finally {
      await standby.resumeReplay();
    }
    await standby.caughtUp();
  });

  test("with the standby down, reports fall back to the primary without an error, and return to the standby once it is back", async () => {
    const expected = await cost(a.url, writerKey);
    standby.stop();
    try {
      const before = await scrape(a.url, TOKEN);
      for (const base of [a.url, b.url]) {
        expect(await cost(base, readerKey)).toBe(expected);
        // Every report kind, not only the summary.
        for (const path of [`/api/organizations/${orgId}/billing?from=${MONTH}&to=${MONTH}`, `/api/organizations/${orgId}/billing/export?from=${MONTH}&to=${MONTH}&format=csv`, `/api/billing/overview?month=${MONTH}`]) {
          expect((await client(base, readerKey).get(path)).status).toBe(200);
        }
      }
      const after = await scrape(a.url, TOKEN);
      expect(after.get(series("orgdesk_db_replica_up"))).toBe(0);
      // Each of the 4 reports on this instance was sent to the primary because the standby was
      // known to be down, or (the first, when the standby's state was read just before it stopped)
      // routed to the standby and every statement the standby failed ran again on the primary.
      const routedToStandby = reads(before, after, "replica", "replica");
      expect(routedToStandby + reads(before, after, "primary", "replica_down")).toBe(4);
      expect(routedToStandby).toBeLessThanOrEqual(1);
      expect(delta(before, after, "orgdesk_db_replica_failovers_total")).toBeGreaterThanOrEqual(routedToStandby);
    } finally {
      standby.start();
    }
    await standby.caughtUp();
    // The instances try the standby again a few seconds after its failure.
    const started = Date.now();
    let back = false;
    while (!back && Date.now() - started < 15_000) {
      const before = await scrape(a.url, TOKEN);
      expect(await cost(a.url, readerKey)).toBe(expected);
      back = reads(before, await scrape(a.url, TOKEN), "replica", "replica") === 1;
      if (!back) await Bun.sleep(500);
    }
    expect(back).toBe(true);
  }, 60_000);
});
