import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import * as billing from "../../server/modules/billing/service";
import { budgetCreateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import * as insights from "../../server/modules/insights/service";
import * as invoices from "../../server/modules/invoices/service";
import * as usage from "../../server/modules/usage/service";
import { ctxFor } from "../support/actors";
import { event, ingest, moveAgent, putPrice, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

// Ingestion and re-pricing append rollup deltas; usage.fold moves them into the rollups; every
// reader reads usage_month_totals, rollups plus pending deltas (docs/scaling.md, "Rollup deltas").
// Whether usage is folded or not must change no figure anywhere.
const database = await testDatabase({ max: 12 });
const ctx = ctxFor(database);
const JAN = "2025-01-01T00:00:00Z";

await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-01-01", input_per_m: "2.50", output_per_m: "10.00", cache_read_per_m: "1.25" });
const alpha = await makeOrg(ctx, { billing_rate_per_agent: "40.00", created_at: JAN });
const beta = await makeOrg(ctx, { billing_rate_per_agent: "25.50", created_at: JAN });
const a1 = await makeAgent(ctx, { org_id: alpha.id, created_at: JAN });
const a2 = await makeAgent(ctx, { org_id: alpha.id, created_at: JAN });
const b1 = await makeAgent(ctx, { org_id: beta.id, created_at: JAN });
await moveAgent(ctx, a2.id, beta.id, "2025-07-16T00:00:00Z");
await budgets.create({ ctx, input: budgetCreateInput.parse({ org_id: alpha.id, kind: "cost_usd", amount: "0.05" }) });
await budgets.create({ ctx, input: budgetCreateInput.parse({ agent_id: b1.id, kind: "cost_usd", amount: "1.00" }) });

let k = 0;
function batchOf(months: string[], tag: string) {
  const out: Record<string, unknown>[] = [];
  for (const month of months) {
    for (let d = 1; d <= 28; d += 3) {
      const at = `${month}-${String(d).padStart(2, "0")}T${String(k++ % 24).padStart(2, "0")}:17:00Z`;
      out.push(event(a1.id, { id: `${tag}-a1-${at}`, occurred_at: at, input_tokens: 1000 + d, output_tokens: 300 + d, cache_read_tokens: 50 * d }));
      out.push(event(a2.id, { id: `${tag}-a2-${at}`, occurred_at: at, model: "house-model", input_tokens: 777, output_tokens: 123 }));
      out.push(event(b1.id, { id: `${tag}-b1-${at}`, occurred_at: at, cost_usd: `0.${String(d).padStart(4, "0")}01` }));
    }
  }
  return out;
}

async function everyReport() {
  const out: Record<string, unknown> = {};
  const range = { from: "2025-05", to: "2025-09" };
  for (const org of [alpha, beta]) {
    out[`summary ${org.slug}`] = await billing.summary({ ctx, input: { id: org.id, ...range } });
    out[`records ${org.slug}`] = await billing.records({ ctx, input: { id: org.id, ...range } });
    out[`org view ${org.slug}`] = await billing.orgView({ ctx, input: { id: org.id, ...range } });
    for (const month of ["2025-06", "2025-07", "2025-08"]) {
      out[`invoice ${org.slug} ${month}`] = await invoices.get({ ctx, input: { id: org.id, month } });
      out[`allowances ${org.slug} ${month}`] = await insights.allowances({ ctx, input: { id: org.id, month } });
      out[`what-if ${org.slug} ${month}`] = await insights.whatIf({ ctx, input: { id: org.id, month, model: "claude-sonnet-4", rate: "30.00" } });
    }
  }
  for (const month of ["2025-06", "2025-07", "2025-08"]) out[`overview ${month}`] = await billing.overview({ ctx, input: { month } });
  out.dashboard = await billing.dashboard({ ctx, input: range });
  out.budgets = await budgets.list({ ctx, input: {} });
  return out;
}

const count = async (table: string) => Number((await rows<{ n: string }>(database.db, sql`select count(*)::text as n from ${sql.identifier(table)}`))[0]!.n);

/** Rollups alone (folded usage only) against raw events. */
async function foldedEqualsRaw() {
  const [row] = await rows<{ n: string }>(
    database.db,
    sql`with raw as (select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date as month, count(*) as events,
                            count(*) filter (where cost_usd is null) as unpriced, sum(input_tokens) as i, sum(output_tokens) as o, coalesce(sum(cost_usd), 0) as cost
                     from usage_events group by 1, 2, 3, 4),
             rolled as (select org_id, agent_id, model, month, events, unpriced_events, input_tokens::numeric, output_tokens::numeric, cost_usd from usage_month_rollups where events > 0)
        select count(*)::text as n from ((select * from raw except select * from rolled) union all (select * from rolled except select * from raw)) d`,
  );
  return row!.n === "0";
}

test("every report is the same with usage unfolded, then folded; re-pricing deltas too", async () => {
  const first = await ingest(ctx, batchOf(["2025-06", "2025-07", "2025-08"], "one"));
  expect(first.rejected).toEqual([]);
  expect(await count("usage_month_deltas")).toBeGreaterThan(0);
  expect(await count("usage_month_rollups")).toBe(0);
  const unfolded = await everyReport();
  expect(await usage.foldRollups(database.db)).toBeGreaterThan(0);
  expect(await count("usage_month_deltas")).toBe(0);
  expect(await foldedEqualsRaw()).toBe(true);
  expect(await everyReport()).toEqual(unfolded);

  // More usage on keys already folded, and a price that re-prices the house-model events (they were unpriced).
  await ingest(ctx, batchOf(["2025-07"], "two"));
  await putPrice(ctx, { model: "house-model", effective_from: "2025-01-01", input_per_m: "3.00", output_per_m: "15.00" });
  // Adding the price re-priced them, appending negative unpriced deltas on folded keys.
  expect(await count("usage_month_deltas")).toBeGreaterThan(0);
  const [negative] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_month_deltas where unpriced_events < 0`);
  expect(Number(negative!.n)).toBeGreaterThan(0);
  const [unpriced] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events where cost_usd is null`);
  expect(unpriced!.n).toBe("0");
  const pending = await everyReport();
  expect(pending).not.toEqual(unfolded);
  const t = await totals(database);
  expect(t.rolled).toEqual(t.raw);
  await usage.foldRollups(database.db);
  expect(await count("usage_month_deltas")).toBe(0);
  expect(await foldedEqualsRaw()).toBe(true);
  expect(await everyReport()).toEqual(pending);
});

test("folds running while batches are ingested lose and double nothing", async () => {
  const agents = [a1, a2, b1];
  const batches = Array.from({ length: 8 }, (_, b) =>
    Array.from({ length: 150 }, (_, i) => event(agents[i % 3]!.id, { id: `race-${b}-${i}`, occurred_at: `2025-08-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z` })),
  );
  let ingesting = true;
  let folds = 0;
  const folder = (async () => {
    while (ingesting) {
      if ((await usage.foldRollups(database.db)) !== null) folds++;
      await Bun.sleep(5);
    }
  })();
  const results = await Promise.all(batches.map((batch) => ingest(ctx, batch)));
  ingesting = false;
  await folder;
  expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(1200);
  expect(folds).toBeGreaterThan(0);
  const t = await totals(database);
  expect(t.rolled).toEqual(t.raw);
  await usage.foldRollups(database.db);
  expect(await count("usage_month_deltas")).toBe(0);
  expect(await foldedEqualsRaw()).toBe(true);
});

test("two folds at once: one folds, the other finds the lock taken or nothing left", async () => {
  await ingest(ctx, batchOf(["2025-06"], "three"));
  const [x, y] = await Promise.all([usage.foldRollups(database.db), usage.foldRollups(database.db)]);
  expect([x, y].filter((n) => n !== null && n > 0)).toHaveLength(1);
  expect(await foldedEqualsRaw()).toBe(true);
});

test("the view is rollups plus pending deltas per key: folded keys with deltas, keys with deltas only, several deltas a key", async () => {
  await usage.foldRollups(database.db);
  // Folded keys get more deltas (two batches: two deltas a key); October and November are new keys, deltas only.
  await ingest(ctx, batchOf(["2025-07", "2025-10"], "four"));
  await ingest(ctx, batchOf(["2025-07", "2025-10", "2025-11"], "five"));
  const [state] = await rows<{ both: string; only: string; multi: string }>(
    database.db,
    sql`select count(distinct (d.org_id, d.agent_id, d.model, d.month)) filter (where r.org_id is not null)::text as both,
               count(distinct (d.org_id, d.agent_id, d.model, d.month)) filter (where r.org_id is null)::text as only,
               (select count(*) from (select 1 from usage_month_deltas group by org_id, agent_id, model, month having count(*) > 1) m)::text as multi
        from usage_month_deltas d left join usage_month_rollups r using (org_id, agent_id, model, month)`,
  );
  expect(Number(state!.both)).toBeGreaterThan(0);
  expect(Number(state!.only)).toBeGreaterThan(0);
  expect(Number(state!.multi)).toBeGreaterThan(0);
  // What the view must equal, written the plain way: both tables' rows summed per key.
  const [diff] = await rows<{ n: string; rows: string }>(
    database.db,
    sql`with plain as (
          select org_id, agent_id, model, month, sum(events)::bigint as events, sum(unpriced_events)::bigint as unpriced_events,
                 sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens,
                 sum(cache_read_tokens)::bigint as cache_read_tokens, sum(cache_write_tokens)::bigint as cache_write_tokens, sum(cost_usd) as cost_usd
          from (select org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd from usage_month_rollups
                union all
                select org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd from usage_month_deltas) k
          group by 1, 2, 3, 4),
        viewed as (select org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd from usage_month_totals)
        select (select count(*) from ((select * from plain except all select * from viewed) union all (select * from viewed except all select * from plain)) d)::text as n,
               (select count(*) from viewed)::text as rows`,
  );
  expect(diff!.n).toBe("0");
  expect(Number(diff!.rows)).toBeGreaterThan(0);
  // Read by organization and month range, as every report reads it: the same rows as the whole view filtered.
  for (const org of [alpha, beta]) {
    const byKey = await rows<Record<string, string>>(
      database.db,
      sql`select agent_id::text, model, month::text, events::text, unpriced_events::text, cost_usd::text from usage_month_totals
          where org_id = ${org.id}::uuid and month >= '2025-07-01'::date and month < '2025-11-01'::date order by 1, 2, 3`,
    );
    const filtered = await rows<Record<string, string>>(
      database.db,
      sql`select agent_id::text, model, month::text, events::text, unpriced_events::text, cost_usd::text
          from (select * from usage_month_totals offset 0) t
          where org_id = ${org.id}::uuid and month >= '2025-07-01'::date and month < '2025-11-01'::date order by 1, 2, 3`,
    );
    expect(byKey.length).toBeGreaterThan(0);
    expect(byKey).toEqual(filtered);
  }
  const t = await totals(database);
  expect(t.rolled).toEqual(t.raw);
});
