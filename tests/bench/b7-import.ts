import { createWriteStream, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";
import { openPostgres } from "../../db/client";
import { ctxFor } from "../support/actors";
import { makeAgent, makeOrg } from "../support/factories";
import { startProcess } from "../support/server-process";
import { ADMIN_KEY, SERVER_ENV } from "./b1-api";
import { prng } from "./generator";
import { admin, dropDatabase, urlFor } from "./lib/databases";
import { mb, num, pct, type Row } from "./lib/report";

export interface ImportSettings {
  /** Rows of the CSV file (10 million for the figure of record; fewer for a quick run). */
  rows: number;
}

const HEADER = "id,agent_id,model,provider,input_tokens,output_tokens,cache_read_tokens,occurred_at";
const MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4-5", "gemini-2.5-flash"];

/**
 * B7: the bulk import (`POST /api/usage/import`, a CSV file streamed from disk over HTTP; the
 * server validates, attributes, prices, deduplicates and rolls up every row) against a bare COPY of
 * the same file into a table of the same columns without index, key or check, through postgres.js.
 * A fresh database (40 organizations, 400 agents); the file is written once, then COPY and the
 * import each run once on it. The server's RSS is sampled every 100 ms during the import.
 */
export async function runImport(settings: ImportSettings, log: (s: string) => void): Promise<Row[]> {
  const name = `orgdesk_bench_import_${process.pid}`;
  const adminSql = admin();
  await dropDatabase(adminSql, name);
  await adminSql.unsafe(`create database "${name}"`);
  const url = urlFor(name);
  const file = join(tmpdir(), `orgdesk-b7-${process.pid}.csv`);
  const server = await startProcess("server/index.ts", { ...SERVER_ENV, DATABASE_URL: url, JOBS_ENABLED: "0" });
  const database = openPostgres(url, { max: 2 });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // The people: created a year ago, so every event of the last eleven months has an organization.
    const ctx = ctxFor(database);
    const created = new Date(Date.now() - 370 * 86_400_000).toISOString();
    const agentIds: string[] = [];
    for (let o = 0; o < 40; o++) {
      const org = await makeOrg(ctx, { name: `B7 Client ${o}`, created_at: created });
      for (let a = 0; a < 10; a++) agentIds.push((await makeAgent(ctx, { name: `B7 Agent ${o}-${a}`, org_id: org.id, created_at: created })).id);
    }

    // The file: events over the last eleven months, about 150 bytes a row.
    const rand = prng(17);
    const now = Date.now();
    const span = 330 * 86_400_000;
    const tWrite = performance.now();
    await pipeline(
      Readable.from(
        (function* () {
          yield HEADER + "\n";
          for (let i = 0; i < settings.rows; i += 5000) {
            let chunk = "";
            for (let k = i; k < Math.min(i + 5000, settings.rows); k++) {
              const agent = agentIds[Math.floor(rand() * agentIds.length)]!;
              const input = 200 + Math.floor(rand() * 12_000);
              chunk += `b7_${k.toString(36)},${agent},${MODELS[k % MODELS.length]},openai,${input},${30 + Math.floor(rand() * 2000)},${rand() < 0.4 ? Math.floor(input * 0.5) : 0},${new Date(now - 60_000 - Math.floor(rand() * span)).toISOString()}\n`;
            }
            yield chunk;
          }
        })(),
      ),
      createWriteStream(file),
    );
    const size = Bun.file(file).size;
    log(`B7 file: ${num(settings.rows)} rows, ${mb(size)}, written in ${((performance.now() - tWrite) / 1000).toFixed(0)} s`);

    // Baseline: COPY of the same file into a bare table.
    await sql`create table bench_bare_import (id text, agent_id uuid, model text, provider text, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, occurred_at timestamptz)`;
    const tCopy = performance.now();
    const writable = await sql.unsafe(`copy bench_bare_import from stdin (format csv, header true)`).writable();
    await pipeline(Readable.fromWeb(Bun.file(file).stream() as never), writable);
    const copySeconds = (performance.now() - tCopy) / 1000;
    const copyRate = settings.rows / copySeconds;
    log(`B7 bare COPY: ${copySeconds.toFixed(1)} s (${num(copyRate)} rows/s)`);
    await sql`drop table bench_bare_import`;

    // Subject: the bulk import over HTTP, RSS sampled throughout.
    const idle = server.rss();
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 100);
    const tImport = performance.now();
    let answer: { accepted: number; duplicates: number; rejected: number; errors: unknown[] };
    try {
      const res = await fetch(`${server.base}/api/usage/import`, {
        method: "POST",
        headers: { "x-api-key": ADMIN_KEY, "content-type": "text/csv" },
        body: Bun.file(file).stream(),
        duplex: "half",
      } as RequestInit);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`POST /api/usage/import answered ${res.status}: ${text.slice(0, 300)}`);
      answer = JSON.parse(text);
    } finally {
      clearInterval(sampler);
    }
    const importSeconds = (performance.now() - tImport) / 1000;
    const importRate = settings.rows / importSeconds;
    log(`B7 import: ${importSeconds.toFixed(1)} s (${num(importRate)} rows/s), server RSS ${mb(idle)} idle, peak ${mb(peak)}`);
    if (answer.accepted !== settings.rows || answer.rejected !== 0) throw new Error(`unexpected import result ${JSON.stringify(answer).slice(0, 300)}`);
    const [diff] = await sql<{ n: number }[]>`
      with raw as (select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date as month, count(*)::bigint as events, coalesce(sum(cost_usd), 0) as cost, sum(input_tokens)::numeric as i from usage_events group by 1, 2, 3, 4),
           rolled as (select org_id, agent_id, model, month, events, cost_usd as cost, input_tokens::numeric as i from usage_month_totals)
      select count(*)::int as n from ((select * from raw except select * from rolled) union all (select * from rolled except select * from raw)) d`;
    if (diff!.n > 0) throw new Error(`after the import, ${diff!.n} rollup rows differ from raw events`);

    const ratio = importRate / copyRate;
    const pass = ratio >= 0.5 && peak < 300 * 1024 * 1024;
    const why =
      ratio >= 0.5
        ? ""
        : ` Why: every row is validated and hashed (SHA-256 of its content), attributed to its agent's organization at occurred_at, priced per model and day, inserted with its key and the time index (its agent and organization checked once per batch), and summed into its batch's monthly rollup deltas — the work of POST /api/usage, set-based per batch of 20,000 from the COPY-loaded staging table; the bare COPY does none of it. the ratio is B4's with HTTP batching removed.`;
    return [
      {
        id: "B7",
        what: "bulk import (CSV over HTTP) vs COPY of the same file into a bare table; server RSS",
        figure: `${pct(ratio)} (${num(importRate)} vs ${num(copyRate)} rows/s); RSS peak ${mb(peak)}`,
        target: "≥ 50 %, RSS < 300 MB",
        status: pass ? "pass" : "FAIL",
        note: `${num(settings.rows)} rows (${mb(size)}) into a fresh database of 40 organizations and 400 agents, one run each; all accepted, rollups = raw afterwards; RSS ${mb(idle)} before the import.${why}`,
      },
    ];
  } finally {
    rmSync(file, { force: true });
    await server.stop();
    await sql.end();
    await database.close();
    await dropDatabase(adminSql, name);
    await adminSql.end();
  }
}
