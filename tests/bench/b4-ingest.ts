import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";
import { startProcess } from "../support/server-process";
import { ADMIN_KEY, SERVER_ENV } from "./b1-api";
import { assignmentIntervals, eventFactory, type GeneratedEvent, loadPrices, prng } from "./generator";
import { admin, dropDatabase, urlFor } from "./lib/databases";
import { median, timed } from "./lib/load";
import { ms, num, pct, type Row } from "./lib/report";

export interface IngestSettings {
  rounds: number;
  /** Events per round (sent in batches of 1000). */
  events: number;
}

const BATCH = 1000;
const CONNECTIONS = 2;
/** Share of each batch that re-sends an event of an earlier batch (a client retry). */
const RESEND = 0.01;

/**
 * B4: ingestion through `POST /api/usage` (batches of 1000 on 2 connections, with validation,
 * attribution, pricing, deduplication and rollups) against COPY of the same rows into a bare table
 * (same columns, no key, index or check) through postgres.js. Runs on a throwaway clone of the 1M
 * database, so the events table and its indexes are not empty. Rounds alternate COPY and HTTP;
 * medians of rows/s.
 */
export async function runIngest(template: { name: string }, settings: IngestSettings, log: (s: string) => void): Promise<Row[]> {
  const name = `orgdesk_bench_ingest_${process.pid}`;
  const adminSql = admin();
  await dropDatabase(adminSql, name);
  await adminSql.unsafe(`create database "${name}" template "${template.name}"`);
  const url = urlFor(name);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const server = await startProcess("server/index.ts", { ...SERVER_ENV, DATABASE_URL: url });
  try {
    // The generator's index for B3's raw baseline is not part of the product's schema.
    await sql`drop index if exists bench_raw_org_time_idx`;
    await sql`create table bench_bare_events (like usage_events including defaults)`;
    const columns = (await sql<{ c: string }[]>`select string_agg(column_name, ', ' order by ordinal_position) as c from information_schema.columns where table_name = 'usage_events'`)[0]!.c;
    // The factory's COPY line follows the generator's column list; the bare table is LIKE usage_events.
    const COPY_COLUMNS = "id, agent_id, org_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_from_event, occurred_at, received_at, content_hash";
    if (!COPY_COLUMNS.split(", ").every((c) => columns.split(", ").includes(c))) throw new Error(`usage_events lacks columns the generator writes: ${columns}`);

    const intervals = await assignmentIntervals(sql);
    const live = await sql<{ id: string }[]>`select id from agents where status = 'active' order by name`;
    const prices = await loadPrices(sql);
    const models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4-5", "gemini-2.5-flash"].filter((m) => prices.byModel.has(m));
    const rand = prng(7);
    const now = Date.now();

    const copyRate: number[] = [];
    const httpRate: number[] = [];
    let stored = 0;
    let duplicatesSent = 0;
    for (let round = 0; round < settings.rounds; round++) {
      // Recent events (the last three days), as a runtime sends them.
      const next = eventFactory({ rand, agentIds: live.map((a) => a.id), intervals, prices, models, idPrefix: `b4r${round}_` });
      const fresh: GeneratedEvent[] = [];
      const batches: string[] = [];
      const lines: string[] = [];
      for (let b = 0; b < settings.events / BATCH; b++) {
        const batch: GeneratedEvent["api"][] = [];
        for (let i = 0; i < BATCH; i++) {
          if (fresh.length > BATCH && rand() < RESEND) {
            const again = fresh[Math.floor(rand() * (fresh.length - BATCH))]!;
            batch.push(again.api);
            lines.push(again.line);
            duplicatesSent++;
          } else {
            const e = next(now - 60_000 - Math.floor(rand() * 3 * 86_400_000));
            fresh.push(e);
            batch.push(e.api);
            lines.push(e.line);
          }
        }
        batches.push(JSON.stringify({ events: batch }));
      }
      stored += fresh.length;
      const rows = lines.length;

      // Baseline: COPY of the same rows into the bare table, three times (emptied in between); a
      // COPY is short, so its round figure is the median of the three.
      const copies: number[] = [];
      for (let k = 0; k < 3; k++) {
        await sql`truncate bench_bare_events`;
        const [copyMs] = await timed(async () => {
          const writable = await sql.unsafe(`copy bench_bare_events (${COPY_COLUMNS}) from stdin`).writable();
          const chunks = function* () {
            for (let i = 0; i < lines.length; i += 5000) yield lines.slice(i, i + 5000).join("\n") + "\n";
          };
          await pipeline(Readable.from(chunks()), writable);
        });
        copies.push(rows / (copyMs / 1000));
      }
      copyRate.push(median(copies));

      // Subject: the same rows through the API, 2 connections each sending its next batch when answered.
      let nextBatch = 0;
      const [httpMs] = await timed(() =>
        Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            while (nextBatch < batches.length) {
              const body = batches[nextBatch++]!;
              const res = await fetch(`${server.base}/api/usage`, { method: "POST", headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" }, body });
              const text = await res.text();
              if (res.status !== 200) throw new Error(`POST /api/usage answered ${res.status}: ${text.slice(0, 300)}`);
              const out = JSON.parse(text) as { accepted: number; duplicates: number; rejected: unknown[] };
              if (out.rejected.length > 0 || out.accepted + out.duplicates !== BATCH) throw new Error(`unexpected ingestion result ${text.slice(0, 300)}`);
            }
          }),
        ),
      );
      httpRate.push(rows / (httpMs / 1000));
      log(`round ${round + 1}/${settings.rounds}: COPY ${num(copyRate.at(-1)!)} rows/s, POST /api/usage ${num(httpRate.at(-1)!)} rows/s`);
    }

    // Exactly the fresh events were stored, and rollups still equal raw events.
    const [{ n } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from usage_events where id like 'b4r%'`;
    if (n !== stored) throw new Error(`expected ${stored} stored events, found ${n}`);
    const [diff] = await sql<{ n: number }[]>`
      with raw as (select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date as month, count(*)::bigint as events, coalesce(sum(cost_usd), 0) as cost, sum(input_tokens)::numeric as i
                   from usage_events where occurred_at >= date_trunc('month', now() - interval '4 days') group by 1, 2, 3, 4),
           rolled as (select org_id, agent_id, model, month, events, cost_usd as cost, input_tokens::numeric as i from usage_month_totals
                      where month >= date_trunc('month', now() - interval '4 days')::date)
      select count(*)::int as n from ((select * from raw except select * from rolled) union all (select * from rolled except select * from raw)) d`;
    if (diff!.n > 0) throw new Error(`after ingestion, ${diff!.n} rollup rows differ from raw events`);

    const ratio = median(httpRate) / median(copyRate);
    const perBatch = (rate: number) => ms((BATCH / rate) * 1000 * CONNECTIONS);
    const why =
      ratio >= 0.4
        ? ""
        : ` Why: per batch of 1000 a connection spends ${perBatch(median(httpRate))} (JSON parsing and the hand-written validation of every event, a SHA-256 of its content, attribution to the agent's organization at occurred_at, pricing per model and day, the id uniqueness check, the index insertions, one reference check per statement, the monthly rollup deltas, one transaction), ` +
          `where COPY into a table without index, key, check or trigger takes ${ms((BATCH / median(copyRate)) * 1000)}. Rollup sums are appended as deltas folded in the background and references checked once per statement; what remains per batch is the server's parsing, validation and hashing, the JSON decoding in PostgreSQL, the key and id-registry insertions and a commit (docs/scaling.md).`;
    return [
      {
        id: "B4",
        what: "POST /api/usage (batches of 1000, 2 connections) vs COPY into a bare table",
        figure: `${pct(ratio)} (${num(median(httpRate))} vs ${num(median(copyRate))} rows/s)`,
        target: "≥ 40 %",
        status: ratio >= 0.4 ? "pass" : "FAIL",
        note: `${settings.rounds} alternating rounds of ${num(settings.events)} events into a clone of the 1M-event database; ${pct(RESEND)} of events re-sent (${num(duplicatesSent)} duplicates, all recognised); rollups = raw afterwards.${why}`,
      },
    ];
  } finally {
    await server.stop();
    await sql.end();
    await dropDatabase(adminSql, name);
    await adminSql.end();
  }
}
