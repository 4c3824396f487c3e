import { afterEach, describe, expect, setSystemTime, test } from "bun:test";
import { sql } from "drizzle-orm";
import { agentUnassignInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import * as billing from "../../server/modules/billing/service";
import * as orgs from "../../server/modules/orgs/service";
import { addMonths, monthOf, monthsBetween } from "../../server/shared/time";
import { ctxFor, readKey, user } from "../support/actors";
import { event, ingest, moveAgent, putFx, setAgentRate, setAgentStatus, setOrgActive } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import type { AppError } from "../../server/errors";
import { failure } from "../support/failures";

/**
 * The web app's screens ask for one call each: `orgView` (an organization's Billing tab) and
 * `dashboard` (twelve months of the overview). Each must answer exactly what the separate calls
 * answer (`summary` + `records`, one `overview` per month), for every kind of caller, on a history
 * with moves, rate and status changes, FX changes, a currency without FX and a deleted organization.
 */
const expectAppError = async (call: Promise<unknown>, code: AppError["code"]) => expect((await failure(call)).code).toBe(code);

const database = await testDatabase();
const ctx = ctxFor(database);

const current = monthOf(new Date());
const back = (n: number) => addMonths(current, -n);
/** A moment in the month `n` months back: day `day`, noon UTC. */
const at = (n: number, day = 10) => `${back(n)}-${String(day).padStart(2, "0")}T12:00:00Z`;
const LONG_AGO = `${back(15)}-01T00:00:00Z`;

// The same clock for the calls compared: the current month's revenue counts up to "now".
afterEach(() => setSystemTime());
const frozen = () => setSystemTime(new Date());

await putFx(ctx, "EUR", `${back(14)}-01`, "0.9");
await putFx(ctx, "EUR", `${back(5)}-01`, "0.95");
const usd = await makeOrg(ctx, { name: "Alpha Freight", billing_rate_per_agent: "99.00", currency: "USD", created_at: LONG_AGO });
const eur = await makeOrg(ctx, { name: "Beta Shipping", billing_rate_per_agent: "120.00", currency: "EUR", created_at: LONG_AGO });
// No FX rate for GBP at all (the shipped default removed): its cost cannot be converted, and the overview says so.
await database.db.execute(sql`delete from fx_rates where currency = 'GBP'`);
const gbp = await makeOrg(ctx, { name: "Gamma Holdings", billing_rate_per_agent: "50.00", currency: "GBP", created_at: LONG_AGO });
const gone = await makeOrg(ctx, { name: "Delta Retired", billing_rate_per_agent: "80.00", currency: "USD", created_at: LONG_AGO });
const goneEarly = await makeOrg(ctx, { name: "Epsilon Early", billing_rate_per_agent: "10.00", currency: "USD", created_at: LONG_AGO });

const a1 = await makeAgent(ctx, { org_id: usd.id, created_at: LONG_AGO });
const a2 = await makeAgent(ctx, { org_id: usd.id, created_at: LONG_AGO });
const a3 = await makeAgent(ctx, { org_id: eur.id, created_at: LONG_AGO });
const a4 = await makeAgent(ctx, { org_id: gbp.id, created_at: LONG_AGO });
const a5 = await makeAgent(ctx, { org_id: gone.id, created_at: LONG_AGO });
const a6 = await makeAgent(ctx, { org_id: usd.id, created_at: LONG_AGO });

await setOrgActive(ctx, eur.id, false, at(8, 3));
await setOrgActive(ctx, eur.id, true, at(8, 17));
await moveAgent(ctx, a2.id, eur.id, at(6));
await setAgentRate(ctx, a3.id, "135.00", at(3, 5));
await agents.unassign({ ctx, input: agentUnassignInput.parse({ id: a5.id, effective_at: at(5, 20) }) });
await setAgentStatus(ctx, a6.id, "archived", at(2, 14));
const events = [];
for (let n = 0; n <= 12; n++) {
  for (const [i, a] of [a1, a2, a3, a4].entries()) events.push(event(a.id, { cost_usd: `${3 + i}.${String(n * 7).padStart(2, "0")}`, occurred_at: at(n, 2 + i) }));
  if (n > 5) events.push(event(a5.id, { cost_usd: "12.34", occurred_at: at(n, 4) }));
}
// A model without a price and no cost given: unpriced.
events.push(event(a1.id, { model: "no-such-model-yet", occurred_at: at(1, 8) }));
await ingest(ctx, events);
await orgs.delete({ ctx, input: { id: gone.id } });
// Deleted four months ago (the API deletes "now"; the history says when).
await database.db.execute(sql`update organizations set deleted_at = ${`${back(4)}-15T00:00:00Z`}::timestamptz where id = ${gone.id}::uuid`);
await orgs.delete({ ctx, input: { id: goneEarly.id } });
await database.db.execute(sql`update organizations set deleted_at = ${`${back(13)}-01T00:00:00Z`}::timestamptz where id = ${goneEarly.id}::uuid`);

const platform = ctx;
const boundViewer = ctxFor(database, user("viewer", eur.id));
const boundKey = ctxFor(database, readKey(gbp.id));
const member = ctxFor(database, user("member"));

describe("billing.orgView: an organization's Billing tab in one call", () => {
  const ranges = [{}, { from: back(11), to: current }, { from: back(8), to: back(2) }, { months: 3 }, { from: back(6), to: back(6) }];

  for (const [name, caller, ids] of [
    ["a platform key", platform, [usd.id, eur.id, gbp.id]],
    ["an unbound member", member, [usd.id, eur.id]],
    ["a viewer bound to its organization", boundViewer, [eur.id]],
    ["a read key scoped to its organization", boundKey, [gbp.id]],
  ] as const) {
    test(`equals summary and records for ${name}`, async () => {
      for (const id of ids) {
        for (const range of ranges) {
          frozen();
          const input = { id, ...range };
          const view = await billing.orgView({ ctx: caller, input });
          const summary = await billing.summary({ ctx: caller, input });
          const records = await billing.records({ ctx: caller, input });
          expect(view).toEqual({ ...summary, records: records.records });
        }
      }
    });
  }

  test("a caller bound to one organization gets no cost or margin field, and another organization is not found", async () => {
    const view = await billing.orgView({ ctx: boundViewer, input: { id: eur.id } });
    expect(view.records.length).toBeGreaterThan(0);
    const costFields = ["total_cost", "total_cost_usd", "fx_rate", "margin", "margin_pct", "unpriced_events", "token_cost", "token_cost_usd"];
    for (const row of [...view.summary, view.totals, ...view.records]) for (const f of costFields) expect(row).not.toHaveProperty(f);
    await expectAppError(billing.orgView({ ctx: boundViewer, input: { id: usd.id } }), "NOT_FOUND");
    await expectAppError(billing.orgView({ ctx: boundKey, input: { id: eur.slug } }), "NOT_FOUND");
  });

  test("refuses what summary refuses: a future month, a range over 120 months", async () => {
    await expectAppError(billing.orgView({ ctx, input: { id: usd.id, to: addMonths(current, 1) } }), "VALIDATION");
    await expectAppError(billing.orgView({ ctx, input: { id: usd.id, from: addMonths(current, -130), to: current } }), "VALIDATION");
  });
});

describe("billing.dashboard: twelve months of the overview in one call", () => {
  for (const [name, caller] of [
    ["a platform key", platform],
    ["an unbound member", member],
    ["a viewer bound to its organization", boundViewer],
    ["a read key scoped to its organization", boundKey],
  ] as const) {
    test(`each month equals that month's overview for ${name}`, async () => {
      frozen();
      const dashboard = await billing.dashboard({ ctx: caller, input: {} });
      expect(dashboard.from).toBe(back(11));
      expect(dashboard.to).toBe(current);
      const months = monthsBetween(back(11), current);
      expect(dashboard.months.map((m) => m.month)).toEqual(months);
      const separate = await Promise.all(months.map((month) => billing.overview({ ctx: caller, input: { month } })));
      expect(dashboard.months).toEqual(separate);
    });
  }

  test("the history shows in it: the deleted organization until its deletion, GBP without FX, the early deletion nowhere", async () => {
    frozen();
    const { months } = await billing.dashboard({ ctx, input: {} });
    const names = (i: number) => months[i]!.organizations.map((o) => o.name);
    expect(names(0)).toContain("Delta Retired");
    expect(names(11)).not.toContain("Delta Retired");
    expect(months.flatMap((m) => m.organizations.map((o) => o.name))).not.toContain("Epsilon Early");
    expect(months[11]!.totals.missing_fx).toEqual(["GBP"]);
    expect(months[10]!.totals.unpriced_events).toBe(1);
    expect(Number(months[11]!.totals.revenue_usd)).toBeGreaterThan(0);
  });

  test("an explicit range: from/to and months=N, each month as the overview has it", async () => {
    for (const input of [{ from: back(14), to: back(9) }, { months: 2 }]) {
      frozen();
      const dashboard = await billing.dashboard({ ctx, input });
      const separate = await Promise.all(dashboard.months.map((m) => billing.overview({ ctx, input: { month: m.month } })));
      expect(dashboard.months.length).toBe(input.months ?? 6);
      expect(dashboard.months).toEqual(separate);
    }
  });

  test("a bound caller sees only its organization, without cost fields", async () => {
    const { months } = await billing.dashboard({ ctx: boundViewer, input: {} });
    for (const m of months) {
      expect(m.organizations.map((o) => o.id)).toEqual([eur.id]);
      expect(Object.keys(m.totals).sort()).toEqual(["agent_count", "organizations"]);
      for (const o of m.organizations) for (const f of ["total_cost_usd", "margin", "revenue_usd", "margin_usd"]) expect(o).not.toHaveProperty(f);
    }
  });

  test("refuses a future month like the overview does", async () => {
    await expectAppError(billing.dashboard({ ctx, input: { to: addMonths(current, 1) } }), "VALIDATION");
  });
});
