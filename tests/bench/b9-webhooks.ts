/**
 * B9: webhook deliveries per second through the product — events written by `events.emit`, their
 * delivery rows claimed in batches by a job runner, signed, POSTed and recorded — against a bare loop sending the
 * same signed POSTs (the same bodies, the same Standard Webhooks signatures, as many requests in
 * flight as the delivery path keeps: JOB_CONCURRENCY runs × DELIVERY_IN_FLIGHT each) to the same
 * local receiver. Alternating rounds of thousands of deliveries (a round lasts seconds), medians,
 * one ratio.
 *
 * B9b: from the answer to `POST /api/usage` on a running server, whose usage crosses a budget's
 * threshold, to the `budget.threshold_crossed` webhook arriving at the local receiver.
 */
import { Webhook } from "standardwebhooks";
import { count, eq, sql as query } from "drizzle-orm";
import { migrate, openPostgres, rows } from "../../db/client";
import { webhookDeliveries } from "../../db/schema";
import { loadConfig } from "../../server/config";
import { emit } from "../../server/modules/events/service";
import { budgetCreateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import * as usage from "../../server/modules/usage/service";
import { TEST_EVENT_TYPE, webhookCreateInput, webhookUpdateInput } from "../../server/modules/webhooks/schema";
import * as webhooks from "../../server/modules/webhooks/service";
import { startJobRunner } from "../../server/jobs/runner";
import { startProcess } from "../support/server-process";
import { ADMIN_KEY, SERVER_ENV } from "./b1-api";
import { ctxFor, platformKey } from "../support/actors";
import { makeAgent, makeOrg } from "../support/factories";
import { admin, urlFor } from "./lib/databases";
import { cpuMs } from "./lib/cpu";
import { median } from "./lib/load";
import { num, pct, type Row } from "./lib/report";

/** The `p`-th percentile (0–100) of `values`, nearest rank. */
function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export async function runWebhooks(options: { rounds: number; deliveries: number; alerts?: number }, log: (s: string) => void): Promise<Row[]> {
  const name = `orgdesk_bench_b9_${process.pid}`;
  const sql = admin();
  await sql.unsafe(`drop database if exists "${name}" with (force)`);
  await sql.unsafe(`create database "${name}"`);
  const database = openPostgres(urlFor(name), { max: 10 });
  // The receiver is on 127.0.0.1, which only WEBHOOK_ALLOW_PRIVATE permits; everything else is the
  // product's default configuration (JOB_CONCURRENCY, polling, LISTEN).
  const config = { ...loadConfig({}), webhookAllowPrivate: true, secretsKey: new Uint8Array(32).fill(9) };
  let received = 0;
  let target = Number.POSITIVE_INFINITY;
  let reached: () => void = () => {};
  // Sampled deliveries are verified as they arrive: standardwebhooks rejects a timestamp older than
  // five minutes, and a whole run on a loaded machine can take longer than that.
  let sampled = 0;
  let verifier: Webhook | undefined;
  const unverified: string[] = [];
  /** Budget id → when its `budget.threshold_crossed` arrived (performance.now()). */
  const alertArrivals = new Map<string, number>();
  let alertArrived: () => void = () => {};
  const receiver = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      const body = await req.text();
      if (new URL(req.url).pathname === "/alerts") {
        const event = JSON.parse(body) as { type: string; data: { budget: { id: string } } };
        if (event.type === "budget.threshold_crossed" && !alertArrivals.has(event.data.budget.id)) {
          alertArrivals.set(event.data.budget.id, performance.now());
          alertArrived();
        }
        return new Response("ok");
      }
      if (verifier && (sampled < 4 || Math.random() < 0.001)) {
        sampled++;
        const headers: Record<string, string> = {};
        req.headers.forEach((value, key) => (headers[key] = value));
        try {
          verifier.verify(body, headers);
        } catch (err) {
          unverified.push(`${(err as Error).message}: ${headers["webhook-id"]}`);
        }
      }
      if (++received === target) reached();
      return new Response("ok");
    },
  });
  const url = `http://127.0.0.1:${receiver.port}/hook`;
  const runner = { current: undefined as ReturnType<typeof startJobRunner> | undefined };
  const server = { current: undefined as Awaited<ReturnType<typeof startProcess>> | undefined };
  try {
    await migrate(database);
    const ctx = { ...ctxFor(database, platformKey), config };
    const endpoint = await webhooks.create({ ctx, input: webhookCreateInput.parse({ url }) });
    verifier = new Webhook(endpoint.secret);
    runner.current = startJobRunner({ database, config });
    const n = options.deliveries;
    /** CPU per delivery since `from`, µs. */
    const cpuPerDelivery = (from: { self: number; postgres: number }) => {
      const now = cpuMs();
      return { self: ((now.self - from.self) * 1000) / n, postgres: ((now.postgres - from.postgres) * 1000) / n };
    };
    const bodyOf = (i: number) => ({ endpoint_id: endpoint.id, message: `B9 delivery ${i}` });
    const until = (count: number) =>
      new Promise<void>((resolve) => {
        target = count;
        reached = resolve;
        if (received >= count) resolve();
      });

    /**
     * Whether any delivery is still pending: read from the two partial indexes of pending deliveries
     * (unclaimed, claimed), so polling it costs the database the same in every round (a count of
     * the succeeded ones grew with the rounds).
     */
    const pending = async () =>
      (
        await rows<{ any: boolean }>(
          database.db,
          query`select exists (select 1 from ${webhookDeliveries} where status = 'pending' and claim_token is null)
                  or exists (select 1 from ${webhookDeliveries} where status = 'pending' and claim_token is not null) as any`,
        )
      )[0]!.any;
    /**
     * The product: n events written in one transaction, delivered by the runner. Deliveries per
     * second from the commit until every one has arrived and is recorded as succeeded (a batch's
     * attempts are recorded after its POSTs, so arriving is not the end of the work).
     */
    const product = async () => {
      received = 0;
      await database.db.transaction(async (tx) => {
        for (let i = 0; i < n; i++) await emit(tx, TEST_EVENT_TYPE, bodyOf(i), { endpointId: endpoint.id });
      });
      const cpu = cpuMs();
      const t0 = performance.now();
      await until(n);
      while (await pending()) await Bun.sleep(2);
      const rate = n / ((performance.now() - t0) / 1000);
      return { rate, cpu: cpuPerDelivery(cpu) };
    };

    /**
     * The bare loop: the same bodies, signed the same way, with the delivery path's concurrency —
     * as many requests in flight as the runner's JOB_CONCURRENCY runs keep (DELIVERY_IN_FLIGHT
     * each), or as many as there are deliveries when fewer.
     */
    const signer = new Webhook(endpoint.secret);
    const inFlight = Math.min(n, config.jobConcurrency * webhooks.DELIVERY_IN_FLIGHT);
    const bare = async () => {
      received = 0;
      target = Number.POSITIVE_INFINITY;
      let next = 0;
      const cpu = cpuMs();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < n) {
            const i = next++;
            const id = `msg_${Bun.randomUUIDv7().replaceAll("-", "")}`;
            const at = new Date();
            const body = JSON.stringify({ type: TEST_EVENT_TYPE, timestamp: at.toISOString(), data: bodyOf(i) });
            const res = await fetch(url, {
              method: "POST",
              body,
              redirect: "manual",
              headers: {
                "webhook-id": id,
                "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
                "webhook-signature": signer.sign(id, at, body),
                "content-type": "application/json",
                "user-agent": "Orgdesk-Webhooks/1",
              },
              signal: AbortSignal.timeout(config.webhookTimeoutMs),
            });
            await res.text();
          }
        }),
      );
      const rate = n / ((performance.now() - t0) / 1000);
      return { rate, cpu: cpuPerDelivery(cpu) };
    };

    await bare(); // warm-up of both paths, not counted
    const ours: number[] = [];
    const theirs: number[] = [];
    // CPU per delivery, µs, of this process (runner or loop, and the receiver) and PostgreSQL: on a
    // shared machine steadier than the rates, and where the product's extra work goes.
    const cpuOurs: number[] = [];
    const cpuTheirs: number[] = [];
    for (let r = 0; r < options.rounds; r++) {
      const p = await product();
      const b = await bare();
      ours.push(p.rate);
      theirs.push(b.rate);
      cpuOurs.push(p.cpu.self + p.cpu.postgres);
      cpuTheirs.push(b.cpu.self + b.cpu.postgres);
      log(
        `B9 round ${r + 1}: product ${num(p.rate)} deliveries/s (CPU per delivery: ${p.cpu.self.toFixed(0)} µs here, ${p.cpu.postgres.toFixed(0)} µs PostgreSQL), ` +
          `bare loop ${num(b.rate)} POSTs/s (${b.cpu.self.toFixed(0)} µs here, ${b.cpu.postgres.toFixed(0)} µs PostgreSQL)`,
      );
    }
    // Every POST either way is a Standard Webhooks delivery the receiver can verify.
    if (sampled === 0) throw new Error("no delivery was sampled for verification");
    if (unverified.length > 0) throw new Error(`${unverified.length} of ${sampled} sampled deliveries failed verification: ${unverified[0]}`);
    // And the product recorded every one it sent as succeeded, once.
    const [done] = await database.db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.status, "succeeded"));
    if (done!.n !== n * options.rounds) throw new Error(`expected ${n * options.rounds} succeeded deliveries, found ${done!.n}`);
    const ratio = median(ours) / median(theirs);
    log(`B9 CPU per delivery (medians): product ${median(cpuOurs).toFixed(0)} µs, bare loop ${median(cpuTheirs).toFixed(0)} µs (ratio ${(median(cpuTheirs) / median(cpuOurs)).toFixed(2)})`);

    // From the answer to `POST /api/usage` on a running server, whose usage crosses a budget's
    // threshold, to the alert's webhook arriving: the evaluation job queued in the ingestion's
    // transaction, the server's runner woken by its commit, the alert and its event written, the
    // delivery claimed and sent. One new organization, agent and budget (1 USD, threshold 100 %) per
    // sample; the receiver's other endpoint is disabled so that only the alerts endpoint gets these
    // deliveries. The in-process runner stops: the server's delivers.
    await runner.current.stop(5000);
    runner.current = undefined;
    await webhooks.update({ ctx, input: webhookUpdateInput.parse({ id: endpoint.id, enabled: false }) });
    await webhooks.create({ ctx, input: webhookCreateInput.parse({ url: `http://127.0.0.1:${receiver.port}/alerts`, event_types: ["budget.threshold_crossed"] }) });
    server.current = await startProcess("server/index.ts", {
      ...SERVER_ENV,
      DATABASE_URL: urlFor(name),
      WEBHOOK_ALLOW_PRIVATE: "true",
      SECRETS_KEY: Buffer.from(config.secretsKey).toString("hex"),
    });
    const latencies: number[] = [];
    for (let i = 0; i < (options.alerts ?? 50); i++) {
      const org = await makeOrg(ctx, { name: `B9 alerts ${i}` });
      const agent = await makeAgent(ctx, { org_id: org.id });
      const budget = await budgets.create({ ctx, input: budgetCreateInput.parse({ org_id: org.id, kind: "cost_usd", amount: "1", thresholds_pct: [100] }) });
      const arrived = new Promise<void>((resolve) => (alertArrived = () => alertArrivals.has(budget.id) && resolve()));
      const res = await fetch(`${server.current.base}/api/usage`, {
        method: "POST",
        headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" },
        body: JSON.stringify({ events: [{ id: `b9-alert-${i}`, agent_id: agent.id, model: "gpt-4o", input_tokens: 10, output_tokens: 10, cost_usd: "2" }] }),
      });
      await res.text();
      const answered = performance.now();
      if (res.status !== 200) throw new Error(`POST /api/usage answered ${res.status}`);
      await Promise.race([arrived, Bun.sleep(30_000).then(() => Promise.reject(new Error(`the alert of sample ${i} did not arrive within 30 s`)))]);
      // An alert that arrived before the answer counts as 0 ms.
      latencies.push(Math.max(0, alertArrivals.get(budget.id)! - answered));
    }
    log(`B9 alert latency: median ${latencies.length ? median(latencies).toFixed(1) : "—"} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms over ${latencies.length} crossings`);
    return [
      {
        id: "B9",
        what: `webhook deliveries/s (${num(n)} per round, JOB_CONCURRENCY ${config.jobConcurrency}) vs a bare loop of the same signed POSTs with the same concurrency (${num(inFlight)} in flight)`,
        figure: `${pct(ratio)} (ratio ${ratio.toFixed(2)}: ${num(median(ours))} vs ${num(median(theirs))} per s; CPU per delivery ${median(cpuOurs).toFixed(0)} vs ${median(cpuTheirs).toFixed(0)} µs)`,
        target: "≥ 50 %",
        status: ratio >= 0.5 ? "pass" : "FAIL",
        note:
          ratio >= 0.5
            ? `a batch claims up to ${webhooks.DELIVERY_BATCH} due delivery rows (with their events and endpoints) in one statement, sends them with up to ${num(inFlight)} requests in flight per instance (shared by its batches) and records them in one statement; the bare loop keeps the same ${num(inFlight)} requests in flight`
            : "B9 is bound by CPU here: per delivery the product adds PostgreSQL's claim and record (two updates of each delivery row that write every index of the table, and the attempt's insert) and the runner's own work to the same signed POST the bare loop sends (docs/benchmarks.md, fix 24)",
      },
      {
        id: "B9b",
        what: `ingestion answered → budget.threshold_crossed webhook received (${latencies.length} crossings, POST /api/usage to a running server)`,
        figure: `median ${median(latencies).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
        target: "within seconds",
        status: percentile(latencies, 99) < 5000 ? "pass" : "FAIL",
      },
    ];
  } finally {
    await runner.current?.stop(5000);
    await server.current?.stop();
    receiver.stop(true);
    await database.close();
    await sql.unsafe(`drop database if exists "${name}" with (force)`);
    await sql.end();
  }
}
