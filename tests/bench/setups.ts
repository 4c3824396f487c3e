/**
 * Figures for docs/scaling.md: the same server and data measured directly on PostgreSQL, through
 * PgBouncer in transaction mode, and with report reads on a streaming replica. A measurement, not a
 * test: it prints a table and asserts nothing (the machine is shared; compare set-ups within one
 * run, in alternating rounds).
 *
 *   bun run tests/bench/setups.ts [--seconds 6] [--rounds 2]
 */
import postgres from "postgres";
import { migrate, openPostgres } from "../../db/client";
import { seedDemo } from "../../server/demo/seed";
import { seedDemoUsage } from "../../server/demo/usage";
import { makeKey } from "../support/access";
import { ctxFor } from "../support/actors";
import { startPgBouncer } from "../support/pgbouncer";
import { type ServerProcess, startProcess } from "../support/server-process";
import { startPrimaryAndStandby } from "../support/standby";
import { load } from "./lib/load";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg("seconds", 6);
const ROUNDS = arg("rounds", 2);
const KEY = "setups-admin-key";

const { primary, standby } = await startPrimaryAndStandby();
const admin = postgres(primary.url("postgres"), { max: 1, onnotice: () => {} });
await admin`create database orgdesk`;
await admin.end();
const database = openPostgres(primary.url("orgdesk"), { max: 4 });
await migrate(database);
const ctx = ctxFor(database);
console.log("seeding the demo data…");
await seedDemo(ctx);
const { events } = await seedDemoUsage(ctx, { months: 6, seed: 11 });
// Reports are read by a key that never writes (a writer's own reads go to the primary).
const reader = (await makeKey(database, "read")).key;
const [biggest] = (await database.pg!`select org_id::text as id from usage_month_totals group by org_id order by sum(events) desc limit 1`) as unknown as [{ id: string }];
const agents = (await database.pg!`select id::text as id from agents where org_id = ${biggest!.id}::uuid limit 20`) as unknown as { id: string }[];
await standby.caughtUp(60_000);
console.log(`${events} usage events; the summary reads organization ${biggest!.id}`);

const bouncer = await startPgBouncer({ upstream: { host: "127.0.0.1", port: primary.port }, poolSize: 10, statementTimeoutMs: 15000 });
const setups: { name: string; env: Record<string, string> }[] = [
  { name: "direct", env: { DATABASE_URL: primary.url("orgdesk") } },
  { name: "PgBouncer (transaction)", env: { DATABASE_URL: bouncer.url("orgdesk"), DATABASE_POOL_MODE: "transaction" } },
  { name: "direct + replica for reports", env: { DATABASE_URL: primary.url("orgdesk"), DATABASE_REPLICA_URL: standby.url("orgdesk") } },
];

/** Closed-loop ingestion: `connections` senders, each posting its next batch of 100 when the last was answered. */
async function ingest(base: string, seconds: number, connections: number, round: number, setup: number) {
  const until = performance.now() + seconds * 1000;
  let batches = 0;
  let errors = 0;
  let n = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      while (performance.now() < until) {
        const events = Array.from({ length: 100 }, () => ({
          id: `setups-${round}-${setup}-${c}-${n++}`,
          agent_id: agents[n % agents.length]!.id,
          model: "gpt-4o",
          input_tokens: 1000,
          output_tokens: 100,
          occurred_at: new Date(Date.now() - (n % 1000) * 60_000).toISOString(),
        }));
        const res = await fetch(`${base}/api/usage`, { method: "POST", headers: { "x-api-key": KEY, "content-type": "application/json" }, body: JSON.stringify({ events }) });
        await res.arrayBuffer();
        if (res.status === 200) batches++;
        else errors++;
      }
    }),
  );
  return { eventsPerSec: (batches * 100) / seconds, errors };
}

type Row = { list: number[]; summary: number[]; summaryP50: number[]; ingest: number[]; errors: number };
const results = new Map<string, Row>(setups.map((s) => [s.name, { list: [], summary: [], summaryP50: [], ingest: [], errors: 0 }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, setup] of setups.entries()) {
    const server: ServerProcess = await startProcess("server/index.ts", { ...setup.env, ADMIN_API_KEY: KEY, WEB_DIR: "", LOG_LEVEL: "warn", RATE_LIMIT_PER_KEY: "0", RATE_LIMIT_PER_ADDRESS: "0" });
    const row = results.get(setup.name)!;
    const summaryUrl = `${server.base}/api/organizations/${biggest!.id}/billing-summary?months=12`;
    await load({ url: summaryUrl, headers: { "x-api-key": reader }, seconds: 1, connections: 4 });
    const list = await load({ url: `${server.base}/api/organizations`, headers: { "x-api-key": reader }, seconds: SECONDS, connections: 8 });
    const summary = await load({ url: summaryUrl, headers: { "x-api-key": reader }, seconds: SECONDS, connections: 8 });
    const ingestion = await ingest(server.base, SECONDS, 4, round, i);
    row.list.push(list.requestsPerSec);
    row.summary.push(summary.requestsPerSec);
    row.summaryP50.push(summary.p50Ms ?? NaN);
    row.ingest.push(ingestion.eventsPerSec);
    row.errors += list.errors + summary.errors + ingestion.errors;
    await server.stop();
    console.log(`round ${round + 1}, ${setup.name}: list ${list.requestsPerSec.toFixed(0)}/s, summary ${summary.requestsPerSec.toFixed(0)}/s (p50 ${summary.p50Ms} ms), ingestion ${ingestion.eventsPerSec.toFixed(0)} events/s`);
  }
}
await bouncer.stop();
await database.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = results.get(setups[0]!.name)!;
console.log(`\n| Set-up | GET /api/organizations | billing-summary, 12 months | summary p50 | POST /api/usage (batches of 100, 4 senders) | errors |`);
console.log(`|---|---|---|---|---|---|`);
for (const s of setups) {
  const r = results.get(s.name)!;
  const rel = (xs: number[], of: number[]) => `${(median(xs) / median(of)).toFixed(2)}×`;
  console.log(
    `| ${s.name} | ${median(r.list).toFixed(0)}/s (${rel(r.list, base.list)}) | ${median(r.summary).toFixed(0)}/s (${rel(r.summary, base.summary)}) | ${median(r.summaryP50).toFixed(1)} ms | ${median(r.ingest).toFixed(0)} events/s (${rel(r.ingest, base.ingest)}) | ${r.errors} |`,
  );
}
console.log(`\n(${ROUNDS} alternating rounds of ${SECONDS} s per workload; medians; 8 connections for reads; ${new Date().toISOString()})`);
process.exit(0);
