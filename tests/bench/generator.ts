import { createHash } from "node:crypto";
import { prng } from "../../server/shared/random";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";
import { type Database, migrate, openPostgres } from "../../db/client";
import { agentAssignInput, agentCreateInput, agentUpdateInput } from "../../server/modules/agents/schema";
import * as agentService from "../../server/modules/agents/service";
import { orgCreateInput, orgUpdateInput } from "../../server/modules/orgs/schema";
import * as orgService from "../../server/modules/orgs/service";
import { addMonths, monthOf, monthStart } from "../../server/shared/time";
import { ctxFor } from "../support/actors";
import { admin, databaseExists, databaseSize, dropOthers, migrationsHash, urlFor } from "./lib/databases";

/**
 * Loads N usage events shaped like a year of an agency's traffic: dozens of client organizations
 * in six currencies, hundreds of agents (a few heavy, most light), several models (one without a
 * price), a year of moves, rate changes, a deactivated client and archived agents.
 *
 * Organizations and agents, with their backdated histories, go through the product's services.
 * Events do NOT go through `POST /api/usage` (10M events through HTTP would take most of the
 * budget): they are COPYed into `usage_events` with exactly what ingestion would store — the
 * organization of the agent's assignment interval at `occurred_at`, the cost from the model price
 * in effect that day (exact decimal arithmetic, the SQL formula of ingestion) or the event's own
 * `cost_usd`, the content hash of the event as sent — and `usage_month_rollups` is then rebuilt by one
 * set-based statement. Afterwards the load checks rollups = raw per organization and month, and
 * re-checks sampled costs against SQL pricing.
 *
 * Usage: `bun run tests/bench/generator.ts [--events 10000000] [--database name]`
 */
export const GENERATOR_VERSION = 2;

const ORGS = 40;
const AGENTS = 400;
const MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4-5", "gemini-2.5-flash", "gpt-4.1-mini"];
/** A model without a price: its events are stored unpriced. */
const UNPRICED_MODEL = "acme-lab-preview";
const CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "NGN"] as const;
const DAY = 86_400_000;

export { prng };

export interface LoadReport {
  events: number;
  seconds: number;
  copySeconds: number;
  indexSeconds: number;
  rollupSeconds: number;
  verifySeconds: number;
  rollupRows: number;
  orgs: number;
  agents: number;
  from: string;
  to: string;
}

export interface Interval {
  orgId: string;
  start: number;
  end: number;
}

/** Organizations and agents with a year of history, through the services (backdated). */
async function setupTenants(database: Database, windowStart: number, now: number, rand: () => number) {
  const ctx = ctxFor(database);
  const t = (ms: number) => new Date(Math.floor(ms)).toISOString();
  const span = now - windowStart;
  const orgIds: string[] = [];
  for (let i = 0; i < ORGS; i++) {
    const org = await orgService.create({
      ctx,
      input: orgCreateInput.parse({
        name: `${["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Acme", "Vandelay"][i % 10]} ${["Health", "Retail", "Logistics", "Legal", "Travel"][Math.floor(i / 10) % 5]} ${i}`,
        contact_email: `billing@client${i}.example`,
        billing_rate_per_agent: `${79 + (i % 6) * 40}.00`,
        currency: CURRENCIES[i % CURRENCIES.length],
        created_at: t(windowStart - 40 * DAY),
      }),
    });
    orgIds.push(org.id);
  }
  // A fifth of the clients change their rate once during the year.
  for (let i = 0; i < ORGS; i += 5) {
    await orgService.update({ ctx, input: orgUpdateInput.parse({ id: orgIds[i], billing_rate_per_agent: `${99 + i}.00`, effective_at: t(windowStart + span * (0.2 + rand() * 0.6)) }) });
  }
  // Two clients paused for a while.
  for (const i of [3, 17]) {
    const off = windowStart + span * (0.3 + rand() * 0.2);
    await orgService.toggle({ ctx, input: { id: orgIds[i]!, is_active: false, effective_at: new Date(off) } });
    await orgService.toggle({ ctx, input: { id: orgIds[i]!, is_active: true, effective_at: new Date(off + 20 * DAY) } });
  }
  const agentIds: string[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const agent = await agentService.create({
      ctx,
      input: agentCreateInput.parse({ name: `Bench Agent ${String(i).padStart(4, "0")}`, org_id: orgIds[i % ORGS], created_at: t(windowStart - 30 * DAY) }),
    });
    agentIds.push(agent.id);
  }
  // 15 % of agents move once or twice during the year; some get a custom rate afterwards.
  for (let i = 0; i < AGENTS; i++) {
    if (rand() >= 0.15) continue;
    let at = windowStart + span * (0.1 + rand() * 0.4);
    const moves = rand() < 0.3 ? 2 : 1;
    for (let m = 0; m < moves; m++) {
      const target = orgIds[(i + 1 + Math.floor(rand() * (ORGS - 1))) % ORGS]!;
      await agentService.assign({ ctx, input: agentAssignInput.parse({ id: agentIds[i], org_id: target, effective_at: t(at) }) });
      at += span * (0.1 + rand() * 0.3);
    }
    if (rand() < 0.5) {
      await agentService.update({ ctx, input: agentUpdateInput.parse({ id: agentIds[i], billing_rate: `${150 + i}.00`, effective_at: t(Math.min(at, now - DAY)) }) });
    }
  }
  return { orgIds, agentIds };
}

/** Every agent's assignment intervals (epoch ms, end Infinity while open). */
export async function assignmentIntervals(pg: postgres.Sql): Promise<Map<string, Interval[]>> {
  const ivRows = await pg<{ agent_id: string; org_id: string; starts_at: number; ends_at: number | null }[]>`
    select agent_id, org_id, (extract(epoch from starts_at) * 1000)::float8 as starts_at, (extract(epoch from ends_at) * 1000)::float8 as ends_at
    from agent_assignments`;
  const intervals = new Map<string, Interval[]>();
  for (const r of ivRows) {
    const list = intervals.get(r.agent_id) ?? [];
    list.push({ orgId: r.org_id, start: Number(r.starts_at), end: r.ends_at === null ? Infinity : Number(r.ends_at) });
    intervals.set(r.agent_id, list);
  }
  return intervals;
}

/** Prices per model from the product's table, as integers at a common decimal scale. */
export async function loadPrices(pg: postgres.Sql) {
  const rowsOf = await pg<{ model: string; provider: string | null; effective_from: string; i: string; o: string; cr: string | null; cw: string | null }[]>`
    select model, provider, effective_from::text, input_per_m::text as i, output_per_m::text as o,
           cache_read_per_m::text as cr, cache_write_per_m::text as cw
    from model_prices order by model, effective_from`;
  const decimals = (v: string) => (v.includes(".") ? v.replace(/0+$/, "").split(".")[1]!.length : 0);
  const scale = Math.max(0, ...rowsOf.flatMap((r) => [r.i, r.o, r.cr ?? "0", r.cw ?? "0"].map(decimals)));
  const units = (v: string) => {
    const [int, frac = ""] = v.split(".");
    return BigInt(int! + frac.padEnd(scale, "0").slice(0, scale));
  };
  const byModel = new Map<string, { provider: string | null; from: number; p: [bigint, bigint, bigint, bigint] }[]>();
  for (const r of rowsOf) {
    const list = byModel.get(r.model) ?? [];
    list.push({ provider: r.provider, from: Date.parse(`${r.effective_from}T00:00:00Z`), p: [units(r.i), units(r.o), units(r.cr ?? r.i), units(r.cw ?? r.i)] });
    byModel.set(r.model, list);
  }
  return { scale, byModel };
}

/** One generated event: as a client sends it to `POST /api/usage`, and as ingestion stores it (a COPY line). */
export interface GeneratedEvent {
  api: {
    id: string;
    agent_id: string;
    model: string;
    provider?: string;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens: number;
    cache_write_tokens: number;
    cost_usd?: string;
    occurred_at: string;
  };
  line: string;
}

export type Prices = Awaited<ReturnType<typeof loadPrices>>;

/**
 * Makes events the way the year of traffic looks: a few heavy agents and many light ones, each with
 * a main model, some cache use, 3 % carrying their own cost, 0.3 % of a model without a price. The
 * stored form is what ingestion would store: the organization of the agent's assignment at
 * `occurred_at`, the exact priced cost, the content hash of the event as sent.
 */
export function eventFactory(opts: { rand: () => number; agentIds: string[]; intervals: Map<string, Interval[]>; prices: Prices; models: string[]; idPrefix?: string }) {
  const { rand, agentIds, intervals, prices, models } = opts;
  const idPrefix = opts.idPrefix ?? "evt_";
  const costScale = prices.scale + 6; // price units × tokens ÷ 1e6
  const pow = 10n ** BigInt(costScale);
  const formatCost = (u: bigint) => (u / pow).toString() + "." + (u % pow).toString().padStart(costScale, "0");
  // Heavy and light agents: weight ∝ 1 / (rank + 8)^0.9.
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 0; k < agentIds.length; k++) cumulative.push((total += 1 / Math.pow(k + 8, 0.9)));
  const pickAgent = () => {
    const x = rand() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const primary = agentIds.map((_, k) => models[k % models.length]!);
  const hex = () => Math.floor(rand() * 4294967296).toString(16).padStart(8, "0");
  return (t: number): GeneratedEvent => {
    const k = pickAgent();
    const agentId = agentIds[k]!;
    let orgId = "";
    for (const iv of intervals.get(agentId)!) if (iv.start <= t && t < iv.end) orgId = iv.orgId;
    if (!orgId) throw new Error(`no assignment for agent ${agentId} at ${new Date(t).toISOString()}`);
    const r = rand();
    const model = r < 0.003 ? UNPRICED_MODEL : r < 0.7 ? primary[k]! : models[Math.floor(rand() * models.length)]!;
    const u1 = rand();
    const input = 200 + Math.floor(u1 * u1 * 12_000);
    const output = 30 + Math.floor(rand() * rand() * 2_000);
    const cacheRead = rand() < 0.4 ? Math.floor(input * rand() * 0.8) : 0;
    const cacheWrite = rand() < 0.1 ? Math.floor(rand() * 2_000) : 0;
    const entries = prices.byModel.get(model);
    let price: (typeof entries & {})[number] | undefined;
    if (entries) for (const e of entries) if (e.from <= t - (t % DAY)) price = e;
    let cost: string | null = null;
    let fromEvent = false;
    if (price && rand() < 0.03) {
      // The runtime sent its own cost (e.g. a negotiated price): kept as sent.
      cost = (Math.floor(rand() * 90_000) / 1e6 + 0.0001).toFixed(6);
      fromEvent = true;
    } else if (price) {
      const [pi, po, pcr, pcw] = price.p;
      cost = formatCost(BigInt(input) * pi + BigInt(output) * po + BigInt(cacheRead) * pcr + BigInt(cacheWrite) * pcw);
    }
    const occurred = new Date(t).toISOString();
    const provider = entries?.[0]?.provider ?? null;
    const id = `${idPrefix}${hex()}${hex()}${hex()}${hex()}`;
    // The content hash of the event as the client sends it (the canonical form of the ingestion path).
    const canonical = [agentId, model, provider, input, output, cacheRead, cacheWrite, fromEvent ? trim(cost!) : null, occurred];
    const hash = createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
    return {
      api: {
        id,
        agent_id: agentId,
        model,
        ...(provider ? { provider } : {}),
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cacheRead,
        cache_write_tokens: cacheWrite,
        ...(fromEvent ? { cost_usd: cost! } : {}),
        occurred_at: occurred,
      },
      line: `${id}\t${agentId}\t${orgId}\t${model}\t${provider ?? "\\N"}\t${input}\t${output}\t${cacheRead}\t${cacheWrite}\t${cost ?? "\\N"}\t${fromEvent ? "t" : "f"}\t${occurred}\t${new Date(t + 1500).toISOString()}\t${hash}`,
    };
  };
}

/** COPY text for `count` events in time order between `from` and `to`, in chunks of 5000 rows. */
function* copyChunks(opts: Parameters<typeof eventFactory>[0] & { count: number; from: number; to: number }): Generator<string> {
  const next = eventFactory(opts);
  const step = (opts.to - opts.from) / opts.count;
  let lines: string[] = [];
  for (let n = 0; n < opts.count; n++) {
    lines.push(next(Math.floor(opts.from + (n + opts.rand()) * step)).line);
    if (lines.length === 5000) {
      yield lines.join("\n") + "\n";
      lines = [];
    }
  }
  if (lines.length) yield lines.join("\n") + "\n";
}

const trim = (v: string) => (v.includes(".") ? v.replace(/0+$/, "").replace(/\.$/, "") : v);

const COPY_COLUMNS = "id, agent_id, org_id, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_from_event, occurred_at, received_at, content_hash";

/** The window of generated events: the 11 previous calendar months and the current one up to now. */
export function eventWindow(now = new Date()) {
  const firstMonth = addMonths(monthOf(now), -11);
  return { from: monthStart(firstMonth).getTime(), to: now.getTime(), firstMonth, lastMonth: monthOf(now) };
}

/** Loads `events` usage events into the (migrated, empty) database at `url`. */
export async function loadEvents(url: string, events: number, log: (s: string) => void, seed = 20250101): Promise<LoadReport> {
  const t0 = performance.now();
  const rand = prng(seed);
  const database = openPostgres(url, { max: 4 });
  const pg = database.pg!;
  try {
    await migrate(database);
    const now = Date.now();
    const window = eventWindow(new Date(now));
    const { agentIds } = await setupTenants(database, window.from, now, rand);
    // Archived agents stop using tokens: three agents are archived now (no events after today).
    const ctx = ctxFor(database);
    for (const id of agentIds.slice(-3)) await agentService.update({ ctx, input: agentUpdateInput.parse({ id, status: "archived" }) });
    const intervals = await assignmentIntervals(pg);
    const prices = await loadPrices(pg);
    const models = MODELS.filter((m) => prices.byModel.has(m));
    if (models.length < 3) throw new Error(`model_prices lacks the models the generator uses (${MODELS.join(", ")})`);
    log(`tenants ready: ${ORGS + 1} organizations, ${AGENTS} agents, ${[...intervals.values()].flat().length} assignment intervals; ${models.length + 1} models`);

    // Bulk load: indexes, keys and triggers off, COPY, then rebuild them (a sorted index build is far
    // cheaper than 10M random insertions into a B-tree larger than shared_buffers).
    const conn = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await conn`set maintenance_work_mem = '512MB'`;
      await conn`set synchronous_commit = off`;
      const indexes = await conn<{ name: string; def: string }[]>`
        select i.relname as name, pg_get_indexdef(i.oid) as def
        from pg_index x join pg_class i on i.oid = x.indexrelid
        where x.indrelid = 'usage_events'::regclass and not exists (select 1 from pg_constraint c where c.conindid = i.oid and c.conrelid = x.indrelid)`;
      const constraints = await conn<{ name: string; def: string; type: string }[]>`
        select conname as name, pg_get_constraintdef(oid) as def, contype as type from pg_constraint
        where conrelid = 'usage_events'::regclass and contype in ('p', 'u', 'f') order by contype desc`;
      for (const c of constraints) await conn.unsafe(`alter table usage_events drop constraint "${c.name}"`);
      for (const i of indexes) await conn.unsafe(`drop index "${i.name}"`);
      await conn`alter table usage_events disable trigger user`;
      // usage_events is partitioned by month (docs/decisions.md): every month of the window needs its partition before COPY.
      await conn`select usage_events_ensure_partition(m::date) from generate_series(${monthStart(window.firstMonth)}::timestamptz at time zone 'UTC', ${monthStart(window.lastMonth)}::timestamptz at time zone 'UTC', interval '1 month') as m`;

      const tCopy = performance.now();
      // Two COPY streams over the two halves of the year, each from its own connection and PRNG:
      // PostgreSQL parses rows on both cores while this process generates them.
      let done = 0;
      const streams = 2;
      // Both connections are open before either stream starts: generating rows keeps this process
      // busy, and a connection still in its handshake then could time out.
      const conns = Array.from({ length: streams }, () => postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 120 }));
      await Promise.all(conns.map((c) => c`set synchronous_commit = off`));
      await Promise.all(
        conns.map(async (c, part) => {
          try {
            const writable = await c.unsafe(`copy usage_events (${COPY_COLUMNS}) from stdin`).writable();
            const span = (now - window.from) / streams;
            const count = Math.floor(events / streams) + (part === 0 ? events % streams : 0);
            const chunks = copyChunks({ count, from: window.from + part * span, to: window.from + (part + 1) * span, rand: prng(seed + 1 + part), agentIds, intervals, prices, models });
            const progress = function* () {
              for (const chunk of chunks) {
                const before = done;
                done += 5000;
                if (Math.floor(done / 1_000_000) > Math.floor(before / 1_000_000)) log(`  ${Math.floor(done / 1e6)}M events copied (${((performance.now() - tCopy) / 1000).toFixed(0)} s)`);
                yield chunk;
              }
            };
            await pipeline(Readable.from(progress()), writable);
          } finally {
            await c.end();
          }
        }),
      );
      const copySeconds = (performance.now() - tCopy) / 1000;
      log(`COPY of ${events.toLocaleString("en-US")} events: ${copySeconds.toFixed(1)} s (${Math.round(events / copySeconds).toLocaleString("en-US")} rows/s)`);

      const tIdx = performance.now();
      await conn`alter table usage_events enable trigger user`;
      for (const c of constraints.filter((c) => c.type !== "f")) await conn.unsafe(`alter table usage_events add constraint "${c.name}" ${c.def}`);
      for (const i of indexes) await conn.unsafe(i.def);
      for (const c of constraints.filter((c) => c.type === "f")) await conn.unsafe(`alter table usage_events add constraint "${c.name}" ${c.def}`);
      const indexSeconds = (performance.now() - tIdx) / 1000;
      log(`keys and ${indexes.length} indexes rebuilt: ${indexSeconds.toFixed(1)} s`);

      const tRoll = performance.now();
      await conn`truncate usage_month_rollups, usage_month_deltas`;
      // Two statements over the two halves of the year, split at a month boundary (rollup keys
      // include the month, so the halves never share a row), on two connections: both cores aggregate.
      const mid = monthStart(addMonths(window.firstMonth, 6));
      await Promise.all(
        [0, 1].map(async (half) => {
          const c = postgres(url, { max: 1, onnotice: () => {} });
          try {
            await c`set work_mem = '256MB'`;
            const cond = half === 0 ? c`occurred_at < ${mid}` : c`occurred_at >= ${mid}`;
            await c`
              insert into usage_month_rollups (org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
              select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date, count(*), count(*) filter (where cost_usd is null),
                     sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), coalesce(sum(cost_usd), 0)
              from usage_events where ${cond} group by 1, 2, 3, 4`;
          } finally {
            await c.end();
          }
        }),
      );
      // Every id registered, as ingestion would have (usage_event_ids keeps ids unique across months).
      await conn`insert into usage_event_ids (id, occurred_at) select id, occurred_at from usage_events order by occurred_at`;
      // Not a product index: B3's raw-event baseline filters events by organization and time, and
      // gets the index such a query would have (B4 drops it in its clone).
      await conn`create index bench_raw_org_time_idx on usage_events (org_id, occurred_at)`;
      const rollupSeconds = (performance.now() - tRoll) / 1000;
      const [{ n: rollupRows } = { n: 0 }] = await conn<{ n: number }[]>`select count(*)::int as n from usage_month_rollups`;
      log(`rollups rebuilt set-based: ${rollupRows.toLocaleString("en-US")} rows in ${rollupSeconds.toFixed(1)} s`);

      const tVerify = performance.now();
      await verifyLoad(conn, events, seed);
      await conn`vacuum (analyze) usage_events`;
      await conn`vacuum (analyze) usage_month_rollups`;
      await conn`analyze`;
      const verifySeconds = (performance.now() - tVerify) / 1000;
      log(`verified rollups = raw per organization and month, sampled costs = SQL pricing; vacuum/analyze: ${verifySeconds.toFixed(1)} s`);
      return {
        events,
        seconds: (performance.now() - t0) / 1000,
        copySeconds,
        indexSeconds,
        rollupSeconds,
        verifySeconds,
        rollupRows,
        orgs: ORGS + 1,
        agents: AGENTS,
        from: window.firstMonth,
        to: window.lastMonth,
      };
    } finally {
      await conn.end();
    }
  } finally {
    await database.close();
  }
}

/**
 * The checks a load must pass: the event count, rollups equal to raw events per organization and
 * month on every measure, every event inside its organization's assignment interval, and the
 * stored cost of a sample of table-priced events equal to the ingestion formula run in SQL.
 */
async function verifyLoad(conn: postgres.Sql, events: number, seed: number) {
  const [{ n } = { n: 0 }] = await conn<{ n: number }[]>`select count(*)::int as n from usage_events`;
  if (n !== events) throw new Error(`expected ${events} events, found ${n}`);
  const mismatches = await conn`
    with raw as (
      select org_id, date_trunc('month', occurred_at at time zone 'UTC') as m, count(*)::bigint as events,
             count(*) filter (where cost_usd is null)::bigint as unpriced, sum(input_tokens)::numeric as i, sum(output_tokens)::numeric as o,
             sum(cache_read_tokens)::numeric as cr, sum(cache_write_tokens)::numeric as cw, coalesce(sum(cost_usd), 0) as cost
      from usage_events group by 1, 2),
    rolled as (
      select org_id, month::timestamp as m, sum(events)::bigint, sum(unpriced_events)::bigint, sum(input_tokens)::numeric,
             sum(output_tokens)::numeric, sum(cache_read_tokens)::numeric, sum(cache_write_tokens)::numeric, sum(cost_usd)
      from usage_month_totals group by 1, 2)
    (select * from raw except select * from rolled) union all (select * from rolled except select * from raw)`;
  if (mismatches.length > 0) throw new Error(`rollups differ from raw events in ${mismatches.length} organization-months`);
  const [misattributed] = await conn<{ n: number }[]>`
    select count(*)::int as n from (select * from usage_events tablesample system (1) repeatable (${seed})) e
    where not exists (select 1 from agent_assignments a where a.agent_id = e.agent_id and a.org_id = e.org_id
                      and a.starts_at <= e.occurred_at and (a.ends_at is null or a.ends_at > e.occurred_at))`;
  if (misattributed!.n > 0) throw new Error(`${misattributed!.n} sampled events lie outside their organization's assignment interval`);
  const [mispriced] = await conn<{ n: number; checked: number }[]>`
    select count(*) filter (where e.cost_usd is distinct from
             (e.input_tokens * p.input_per_m + e.output_tokens * p.output_per_m
              + e.cache_read_tokens * coalesce(p.cache_read_per_m, p.input_per_m)
              + e.cache_write_tokens * coalesce(p.cache_write_per_m, p.input_per_m)) * 0.000001)::int as n,
           count(*)::int as checked
    from (select * from usage_events tablesample system (1) repeatable (${seed})) e
    left join lateral (select * from model_prices mp where mp.model = e.model and mp.effective_from <= (e.occurred_at at time zone 'UTC')::date
                       order by mp.effective_from desc limit 1) p on true
    where not e.cost_from_event`;
  if (mispriced!.n > 0) throw new Error(`${mispriced!.n} of ${mispriced!.checked} sampled events are priced differently from the SQL formula`);
}

/**
 * A database holding `events` generated events, reused while the migrations, the generator version
 * and the month are unchanged (`orgdesk_bench_ev<size>_<hash>`); an outdated one of the same size is
 * dropped. Returns its URL and the load report (null when reused).
 */
export async function eventsDatabase(events: number, log: (s: string) => void): Promise<{ url: string; name: string; report: LoadReport | null }> {
  const size = events >= 1e6 && events % 1e6 === 0 ? `${events / 1e6}m` : `${events}`;
  const month = monthOf(new Date()).replace("-", "");
  const prefix = `orgdesk_bench_ev${size}_`;
  const name = `${prefix}${migrationsHash()}_g${GENERATOR_VERSION}_${month}`;
  const sql = admin();
  try {
    if (await databaseExists(sql, name)) {
      log(`reusing ${name} (${await databaseSize(sql, name)}): same migrations, generator version and month`);
      return { url: urlFor(name), name, report: null };
    }
    const dropped = await dropOthers(sql, prefix, name);
    if (dropped.length) log(`dropped outdated ${dropped.join(", ")}`);
    await sql.unsafe(`drop database if exists "${name}_build" with (force)`);
    await sql.unsafe(`create database "${name}_build"`);
    log(`loading ${events.toLocaleString("en-US")} events into ${name}`);
    const report = await loadEvents(urlFor(`${name}_build`), events, log);
    await sql.unsafe(`alter database "${name}_build" rename to "${name}"`);
    log(`loaded ${name} (${await databaseSize(sql, name)}) in ${report.seconds.toFixed(0)} s`);
    return { url: urlFor(name), name, report };
  } finally {
    await sql.end();
  }
}

if (import.meta.main) {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const events = Number(arg("--events") ?? 10_000_000);
  const log = (s: string) => console.log(s);
  const target = arg("--database");
  if (target) {
    const sql = admin();
    await sql.unsafe(`drop database if exists "${target}" with (force)`);
    await sql.unsafe(`create database "${target}"`);
    await sql.end();
    const report = await loadEvents(urlFor(target), events, log);
    console.log(report);
  } else {
    const { name, report } = await eventsDatabase(events, log);
    console.log(name, report ?? "(reused)");
  }
}
