import { apiDatabase, API_ORGS } from "./api-dataset";
import { load, type LoadResult, median } from "./lib/load";
import { sampleRss, startProcess } from "../support/server-process";
import { mb, num, pct, type Row } from "./lib/report";

export const ADMIN_KEY = "bench-admin-key";

/**
 * Environment of the server under test. Rate limiting stays on (its cost is part of every request),
 * with limits no benchmark reaches: a load generator hammering one key is not abuse here.
 */
export const SERVER_ENV = { ADMIN_API_KEY: ADMIN_KEY, WEB_DIR: "", RATE_LIMIT_PER_KEY: "1000000000", RATE_LIMIT_PER_ADDRESS: "1000000000" };

export interface ApiSettings {
  rounds: number;
  seconds: number;
  connections: number;
}

/**
 * B1 (REST list vs a bare Bun.serve + postgres.js handler), B2 (the same list through tRPC vs
 * REST) and B6 (the server's peak RSS during that load). Each round runs baseline, REST and tRPC
 * back to back, so noise from the shared machine hits all three alike; medians over rounds.
 */
export async function runApi(settings: ApiSettings, log: (s: string) => void): Promise<Row[]> {
  const url = await apiDatabase(log);
  const baseline = await startProcess("tests/bench/baseline-server.ts", { DATABASE_URL: url });
  const server = await startProcess("server/index.ts", { ...SERVER_ENV, DATABASE_URL: url });
  try {
    const auth = { "x-api-key": ADMIN_KEY };
    const restUrl = `${server.base}/api/organizations`;
    const trpcUrl = `${server.base}/trpc/orgs.list?input=${encodeURIComponent("{}")}`;
    const baseUrl = `${baseline.base}/api/organizations`;

    // Same work, same answer: the baseline's bytes must equal the REST body, and tRPC must carry the same data.
    const [b, r, t] = await Promise.all([
      fetch(baseUrl).then((x) => x.text()),
      fetch(restUrl, { headers: auth }).then((x) => x.text()),
      fetch(trpcUrl, { headers: auth }).then((x) => x.text()),
    ]);
    if (b !== r) throw new Error(`B1 baseline and REST bodies differ:\n${b.slice(0, 300)}\n${r.slice(0, 300)}`);
    if (JSON.stringify(JSON.parse(t).result.data) !== r) throw new Error("B2 tRPC data differs from the REST body");
    const count = JSON.parse(r).organizations.length;
    if (count !== API_ORGS) throw new Error(`expected ${API_ORGS} organizations, the list returned ${count}`);
    log(`bodies identical: ${count} organizations, ${num(r.length)} bytes`);

    const opts = (u: string, headers?: Record<string, string>) => ({ url: u, headers, seconds: settings.seconds, connections: settings.connections });
    // Warm-up: JIT, prepared statements, pools.
    for (const u of [baseUrl, restUrl, trpcUrl]) await load({ ...opts(u, auth), seconds: 2 });

    const results: Record<"base" | "rest" | "trpc", LoadResult[]> = { base: [], rest: [], trpc: [] };
    let peakRss = 0;
    const idleRss = server.rss();
    for (let round = 0; round < settings.rounds; round++) {
      results.base.push(await load(opts(baseUrl)));
      for (const kind of ["rest", "trpc"] as const) {
        const sampler = sampleRss(server.pid);
        results[kind].push(await load(opts(kind === "rest" ? restUrl : trpcUrl, auth)));
        peakRss = Math.max(peakRss, sampler.stop().peak);
      }
      const last = (k: keyof typeof results) => num(results[k].at(-1)!.requestsPerSec);
      log(`round ${round + 1}/${settings.rounds}: baseline ${last("base")} req/s, REST ${last("rest")}, tRPC ${last("trpc")}, RSS peak ${mb(peakRss)}`);
    }
    const errors = Object.values(results).flat().reduce((s, x) => s + x.errors, 0);
    if (errors > 0) throw new Error(`${errors} failed requests under load`);
    const med = (k: keyof typeof results) => median(results[k].map((x) => x.requestsPerSec));
    // Ratio of medians, and the median of per-round ratios as a check on drift.
    const b1 = med("rest") / med("base");
    const b2 = med("trpc") / med("rest");
    const b1Rounds = median(results.rest.map((x, i) => x.requestsPerSec / results.base[i]!.requestsPerSec));
    const b2Rounds = median(results.trpc.map((x, i) => x.requestsPerSec / results.rest[i]!.requestsPerSec));
    const tool = results.base[0]!.tool;
    const spread = (xs: number[]) => `per-round ratios ${pct(Math.min(...xs))}–${pct(Math.max(...xs))}`;
    const b1Ratios = results.rest.map((x, i) => x.requestsPerSec / results.base[i]!.requestsPerSec);
    const b2Ratios = results.trpc.map((x, i) => x.requestsPerSec / results.rest[i]!.requestsPerSec);
    const setup = `${tool}, ${settings.connections} connections, ${settings.rounds} alternating rounds of ${settings.seconds} s`;
    return [
      {
        id: "B1",
        what: `REST GET /api/organizations (${API_ORGS} orgs) vs bare Bun.serve + postgres.js`,
        figure: `${pct(b1)} (${num(med("rest"))} vs ${num(med("base"))} req/s; per-round median ${pct(b1Rounds)})`,
        target: "≥ 85 %",
        status: b1 >= 0.85 ? "pass" : "FAIL",
        note: `${setup}; ${spread(b1Ratios)}. Both servers run the same SQL, so PostgreSQL's share is equal; the gap is the server's CPU per request (routing, request id and headers, credentials, rate limits, zod, the per-request log line and metrics) on a machine where the server, PostgreSQL and wrk share two cores.`,
      },
      {
        id: "B2",
        what: "the same list through tRPC vs REST",
        figure: `${pct(b2)} (${num(med("trpc"))} vs ${num(med("rest"))} req/s; per-round median ${pct(b2Rounds)})`,
        target: "≥ 90 % of B1",
        status: b2 >= 0.9 ? "pass" : "FAIL",
        note: `${setup}; ${spread(b2Ratios)}`,
      },
      {
        id: "B6",
        what: "server RSS under the B1/B2 load (PostgreSQL)",
        figure: `peak ${mb(peakRss)} (idle before load ${mb(idleRss)})`,
        target: "≤ 200 MB",
        status: peakRss <= 200 * 1024 * 1024 ? "pass" : "FAIL",
        note: "VmRSS of the server process sampled every 100 ms during every REST and tRPC round",
      },
    ];
  } finally {
    await Promise.all([baseline.stop(), server.stop()]);
  }
}
