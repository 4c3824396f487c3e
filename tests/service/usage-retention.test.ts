import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import * as billing from "../../server/modules/billing/service";
import { budgetCreateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import * as insights from "../../server/modules/insights/service";
import * as invoices from "../../server/modules/invoices/service";
import { usagePartitionsHandler, usageRetentionHandler } from "../../server/jobs/handlers/usage-partitions";
import { startJobRunner } from "../../server/jobs/runner";
import * as retention from "../../server/modules/retention/service";
import { monthKey, monthStartBefore } from "../../server/modules/usage/retention";
import * as usage from "../../server/modules/usage/service";
import { ctxFor, TEST_CONFIG } from "../support/actors";
import { event, ingest, moveAgent, putPrice } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

// Retention drops whole months of raw events (docs/operations.md, "Usage retention"); every report
// reads rollups and finalized invoices, so none may change.
const database = await testDatabase({ max: 10 });
const ctx = ctxFor(database);
const JAN = "2025-01-01T00:00:00Z";
// With 2 months of retention, on 2025-10-15 the window starts on 2025-08-01: every month before
// August that is closed goes.
const NOW = new Date("2025-10-15T12:00:00Z");
const system = { ...ctxFor(database, { kind: "anonymous" }), config: { ...TEST_CONFIG, usageRetentionMonths: 2 } };

await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-01-01", input_per_m: "2.50", output_per_m: "10.00", cache_read_per_m: "1.25" });
await putPrice(ctx, { model: "claude-sonnet-4", effective_from: "2025-01-01", input_per_m: "3.00", output_per_m: "15.00" });
const alpha = await makeOrg(ctx, { billing_rate_per_agent: "40.00", created_at: JAN });
const beta = await makeOrg(ctx, { billing_rate_per_agent: "25.50", created_at: JAN });
// Gamma's March is never invoiced; its February has an event nobody can price yet.
const gamma = await makeOrg(ctx, { billing_rate_per_agent: "10.00", created_at: JAN });
const a1 = await makeAgent(ctx, { org_id: alpha.id, created_at: JAN });
const a2 = await makeAgent(ctx, { org_id: alpha.id, created_at: JAN });
const b1 = await makeAgent(ctx, { org_id: beta.id, created_at: JAN });
const g1 = await makeAgent(ctx, { org_id: gamma.id, created_at: JAN });
// a2 moves to Beta in the middle of July: July's usage is split between the two.
await moveAgent(ctx, a2.id, beta.id, "2025-07-16T00:00:00Z");

let k = 0;
const day = (month: string, d: number) => `${month}-${String(d).padStart(2, "0")}T${String(k++ % 24).padStart(2, "0")}:17:00Z`;
const batch: Record<string, unknown>[] = [];
for (const month of ["2025-06", "2025-07", "2025-08"]) {
  for (let d = 1; d <= 28; d += 3) {
    batch.push(event(a1.id, { occurred_at: day(month, d), input_tokens: 1000 + d, output_tokens: 300 + d, cache_read_tokens: 50 * d }));
    batch.push(event(a2.id, { occurred_at: day(month, d), model: "claude-sonnet-4", input_tokens: 777, output_tokens: 123 }));
    batch.push(event(b1.id, { occurred_at: day(month, d), cost_usd: `0.${String(d).padStart(4, "0")}01` }));
  }
}
batch.push(event(g1.id, { occurred_at: "2025-03-05T00:00:00Z" }));
batch.push(event(g1.id, { occurred_at: "2025-02-05T00:00:00Z", model: "unpriced-model" }));
const ingested = await ingest(ctx, batch);
if (ingested.rejected.length > 0 || ingested.accepted !== batch.length) throw new Error(`setup: ${JSON.stringify(ingested)}`);
const finalized: Awaited<ReturnType<typeof invoices.finalize>>[] = [];
for (const org of [alpha, beta]) for (const month of ["2025-06", "2025-07"]) finalized.push(await invoices.finalize({ ctx, input: { id: org.id, month } }));
await budgets.create({ ctx, input: budgetCreateInput.parse({ org_id: alpha.id, kind: "cost_usd", amount: "0.05" }) });
await budgets.create({ ctx, input: budgetCreateInput.parse({ agent_id: b1.id, kind: "cost_usd", amount: "1.00" }) });

/** Every report that shows usage, as the services return it (documents as text or bytes). */
async function everyReport() {
  const out: Record<string, unknown> = {};
  const range = { from: "2025-01", to: "2025-09" };
  for (const org of [alpha, beta, gamma]) {
    out[`summary ${org.slug}`] = await billing.summary({ ctx, input: { id: org.id, ...range } });
    out[`records ${org.slug}`] = await billing.records({ ctx, input: { id: org.id, ...range } });
    out[`csv ${org.slug}`] = await billing.exportFile({ ctx, input: { id: org.id, ...range, format: "csv" } });
    out[`json ${org.slug}`] = await billing.exportFile({ ctx, input: { id: org.id, ...range, format: "json" } });
    out[`org view ${org.slug}`] = await billing.orgView({ ctx, input: { id: org.id, ...range } });
    out[`invoices ${org.slug}`] = await invoices.orgList({ ctx, input: { id: org.id } });
    for (const month of ["2025-02", "2025-03", "2025-06", "2025-07", "2025-08"]) {
      out[`invoice ${org.slug} ${month}`] = await invoices.get({ ctx, input: { id: org.id, month } });
      out[`allowances ${org.slug} ${month}`] = await insights.allowances({ ctx, input: { id: org.id, month } });
      out[`what-if ${org.slug} ${month}`] = await insights.whatIf({ ctx, input: { id: org.id, month, model: "claude-sonnet-4", rate: "30.00" } });
    }
  }
  for (const month of ["2025-02", "2025-03", "2025-06", "2025-07", "2025-08", "2025-09"]) out[`overview ${month}`] = await billing.overview({ ctx, input: { month } });
  out.dashboard = await billing.dashboard({ ctx, input: range });
  out["invoice list"] = await invoices.list({ ctx, input: { limit: 100 } as never });
  for (const inv of finalized) {
    out[`document ${inv.number} csv`] = await invoices.document({ ctx, input: { number: inv.number!, format: "csv" } });
    out[`document ${inv.number} pdf`] = await invoices.document({ ctx, input: { number: inv.number!, format: "pdf" } });
  }
  out.budgets = await budgets.list({ ctx, input: {} });
  out.alerts = await budgets.listAlerts({ ctx, input: {} as never });
  out.rollups = await rows(database.db, sql`select org_id::text, agent_id::text, model, month::text, events::text, unpriced_events::text, input_tokens::text, output_tokens::text, cache_read_tokens::text, cache_write_tokens::text, cost_usd::text from usage_month_totals order by 1, 2, 3, 4`);
  return out;
}

const monthCounts = () =>
  rows<{ month: string; events: string; ids: string }>(
    database.db,
    sql`select m.month, (select count(*) from usage_events e where to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM') = m.month)::text as events,
               (select count(*) from usage_event_ids i where to_char(i.occurred_at at time zone 'UTC', 'YYYY-MM') = m.month)::text as ids
        from (values ('2025-02'), ('2025-03'), ('2025-06'), ('2025-07'), ('2025-08')) as m(month) order by 1`,
  );

describe("usage retention", () => {
  test("without USAGE_RETENTION_MONTHS nothing is dropped", async () => {
    expect(await retention.dropExpired({ ...system, config: TEST_CONFIG }, NOW)).toEqual({ dropped: [], kept: [] });
  });

  test("dropping closed months leaves every report identical; unpriced and uninvoiced months are kept", async () => {
    const before = await everyReport();
    // The reports do show the months about to lose their raw events.
    expect((before[`csv ${alpha.slug}`] as { content: string }).content).toContain("2025-06");
    expect((before.rollups as unknown[]).length).toBeGreaterThan(8);
    expect(await monthCounts()).toEqual([
      { month: "2025-02", events: "1", ids: "1" },
      { month: "2025-03", events: "1", ids: "1" },
      { month: "2025-06", events: "30", ids: "30" },
      { month: "2025-07", events: "30", ids: "30" },
      { month: "2025-08", events: "30", ids: "30" },
    ]);
    // Two instances at once: each month is dropped by one of them.
    const [one, two] = await Promise.all([retention.dropExpired(system, NOW), retention.dropExpired(system, NOW)]);
    expect([...one.dropped, ...two.dropped].sort()).toEqual(["2025-06-01", "2025-07-01"]);
    expect(one.kept).toEqual([
      { month: "2025-02-01", reason: "1 event(s) still unpriced" },
      { month: "2025-03-01", reason: "1 organization(s) without a finalized invoice for the month" },
    ]);
    expect(await monthCounts()).toEqual([
      { month: "2025-02", events: "1", ids: "1" },
      { month: "2025-03", events: "1", ids: "1" },
      { month: "2025-06", events: "0", ids: "0" },
      { month: "2025-07", events: "0", ids: "0" },
      { month: "2025-08", events: "30", ids: "30" },
    ]);
    const months = (await retention.listPartitions(database.db)).map((p) => p.month);
    expect(months).not.toContain("2025-06-01");
    expect(months).toContain("2025-08-01");
    const after = await everyReport();
    for (const key of Object.keys(before)) expect({ key, report: after[key] }).toEqual({ key, report: before[key] });
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    // Run again: nothing more to drop.
    expect((await retention.dropExpired(system, NOW)).dropped).toEqual([]);
  });

  test("re-pricing a dropped month finds no events to re-price (what retention gives up)", async () => {
    const res = await usage.reprice({ ctx, input: { from: "2025-06-01", to: "2025-07-31" } });
    expect(res).toMatchObject({ examined: 0, changed: 0 });
  });

  test("a month whose rollups no longer match its raw events is kept", async () => {
    await invoices.finalize({ ctx, input: { id: gamma.id, month: "2025-03" } });
    // The rollup rows exist once the deltas are folded; one of them is then altered.
    await usage.foldRollups(database.db);
    await database.db.execute(sql`update usage_month_rollups set output_tokens = output_tokens + 1 where org_id = ${gamma.id}::uuid and month = '2025-03-01'`);
    const run = await retention.dropExpired(system, NOW);
    expect(run.dropped).toEqual([]);
    expect(run.kept.find((k) => k.month === "2025-03-01")).toEqual({ month: "2025-03-01", reason: "the rollups differ from the raw events in 2 row(s)" });
    await database.db.execute(sql`update usage_month_rollups set output_tokens = output_tokens - 1 where org_id = ${gamma.id}::uuid and month = '2025-03-01'`);
    expect((await retention.dropExpired(system, NOW)).dropped).toEqual(["2025-03-01"]);
  });

  test("the background jobs, run by the job runner: partitions for the next months, and the retention of closed months", async () => {
    for (const org of [alpha, beta]) await invoices.finalize({ ctx, input: { id: org.id, month: "2025-08" } });
    const runner = startJobRunner({
      database,
      config: { ...TEST_CONFIG, usageRetentionMonths: 2, jobPollIntervalMs: 50 },
      handlers: [usagePartitionsHandler, usageRetentionHandler],
    });
    const ahead = monthKey(monthStartBefore(new Date(), -2));
    try {
      for (let i = 0; i < 200; i++) {
        const months = (await retention.listPartitions(database.db)).map((p) => p.month);
        if (months.includes(ahead) && !months.includes("2025-08-01")) break;
        await Bun.sleep(50);
      }
    } finally {
      await runner.stop(1000);
    }
    const months = (await retention.listPartitions(database.db)).map((p) => p.month);
    expect(months).toContain(ahead);
    expect(months).not.toContain("2025-08-01");
    // February still has its unpriced event.
    expect(months).toContain("2025-02-01");
    expect(await monthCounts()).toContainEqual({ month: "2025-08", events: "0", ids: "0" });
  });
});
