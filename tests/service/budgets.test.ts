import { describe, expect, test } from "bun:test";
import { and, eq, sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { auditLog, budgetAlerts, budgetSuspensions, webhookEvents } from "../../db/schema";
import type { Ctx } from "../../server/context";
import { agentUpdateInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import * as billing from "../../server/modules/billing/service";
import { alertListInput, budgetCreateInput, budgetUpdateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import { orgInvoicingInput } from "../../server/modules/invoices/schema";
import * as invoices from "../../server/modules/invoices/service";
import { repriceInput } from "../../server/modules/usage/schema";
import * as usage from "../../server/modules/usage/service";
import { webhookCreateInput } from "../../server/modules/webhooks/schema";
import * as webhooks from "../../server/modules/webhooks/service";
import { dec, mul, round } from "../../server/shared/money";
import { addMonths, monthOf, monthStart } from "../../server/shared/time";
import { event, ingest, moveAgent, putPrice, setOrgActive, setOrgRate } from "../support/billing";
import { ctxFor, readKey, user } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { failure } from "../support/failures";

/**
 * Budgets, alerts and budget suspensions (docs/guardrails.md). Spend always comes from the month's
 * usage and allowances from the budget or the month's revenue, so every scenario below is checked
 * against figures computed by hand (or, for revenue that prorates to "now", against the billing
 * summary of the same month).
 */

const database = await testDatabase({ max: 12 });
const db = database.db;
const admin: Ctx = ctxFor(database, user("admin"));
const owner: Ctx = ctxFor(database, user("owner"));
const system: Ctx = { ...admin, principal: { kind: "anonymous" } };

const now = new Date();
const month = monthOf(now);
const lastMonth = addMonths(month, -1);
const lastMonthStart = monthStart(lastMonth).toISOString();
/** A time in the current month at least a minute ago (the first minute of the month if it is that young). */
const earlierThisMonth = new Date(Math.max(monthStart(month).getTime() + 1000, now.getTime() - 60_000)).toISOString();

// Every test sees its events in the outbox: one endpoint receives every type (its deliveries stay queued: no runner here).
await webhooks.create({ ctx: { ...admin, principal: { kind: "api_key", keyId: null, prefix: "env", permission: "write", orgId: null } }, input: webhookCreateInput.parse({ url: "https://hooks.example.com/budgets" }) });

const createBudget = (input: Record<string, unknown>, ctx: Ctx = admin) => budgets.create({ ctx, input: budgetCreateInput.parse(input) });
const updateBudget = (id: string, input: Record<string, unknown>) => budgets.update({ ctx: admin, input: budgetUpdateInput.parse({ id, ...input }) });
const listFor = async (orgId: string) => (await budgets.list({ ctx: admin, input: { org: orgId } })).budgets;
const budgetOf = async (id: string, orgId: string) => (await listFor(orgId)).find((b) => b.id === id)!;
const alertsOf = async (budgetId: string) =>
  (await db.select().from(budgetAlerts).where(eq(budgetAlerts.budgetId, budgetId))).map((a) => `${a.month.slice(0, 7)}@${a.thresholdPct}`).sort();
const spend = (agentId: string, cost: string, at?: string) => event(agentId, { cost_usd: cost, ...(at ? { occurred_at: at } : {}) });
const eventsOfType = async (type: string, key: string) =>
  (await db.select().from(webhookEvents).where(eq(webhookEvents.type, type))).map((e) => JSON.parse(e.body).data).filter((d) => JSON.stringify(d).includes(key));

/** An organization at `rate` USD per agent with one agent, both existing since the start of last month. */
async function client(rate = "100.00") {
  const org = await makeOrg(admin, { billing_rate_per_agent: rate, created_at: lastMonthStart });
  const agent = await makeAgent(admin, { org_id: org.id, created_at: lastMonthStart });
  return { org, agent };
}

describe("budgets: spend from the month's usage", () => {
  test("a budget works in its first month: spend, allowance and share used of an organization created this month", async () => {
    const org = await makeOrg(admin, { billing_rate_per_agent: "50.00" });
    const agent = await makeAgent(admin, { org_id: org.id });
    const b = await createBudget({ org_id: org.slug, kind: "cost_usd", amount: "200" });
    expect(b).toMatchObject({ org_id: org.id, agent_id: null, kind: "cost_usd", amount: "200.00", thresholds_pct: [50, 80, 100], action_at_100: "notify", month, spend_usd: "0.0000", allowance_usd: "200.0000", used_pct: "0.0", suspended: false });
    await ingest(admin, [spend(agent.id, "12.5"), spend(agent.id, "0.0001")]);
    expect(await budgetOf(b.id, org.id)).toMatchObject({ spend_usd: "12.5001", used_pct: "6.3" });
  });

  test("after a month boundary the spend starts again from last month's usage left behind, and alerts are per month", async () => {
    const { org, agent } = await client();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "100" });
    await ingest(admin, [spend(agent.id, "90", lastMonthStart), spend(agent.id, "10", earlierThisMonth)]);
    expect(await budgetOf(b.id, org.id)).toMatchObject({ spend_usd: "10.0000", used_pct: "10.0" });
    await budgets.evaluate(system, { orgId: org.id, month: lastMonth });
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await alertsOf(b.id)).toEqual([`${lastMonth}@50`, `${lastMonth}@80`]);
  });

  test("a budget changed mid-month alerts at once for thresholds the new amount crosses, and never twice", async () => {
    const { org, agent } = await client();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "100" });
    await ingest(admin, [spend(agent.id, "60")]);
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await alertsOf(b.id)).toEqual([`${month}@50`]);
    const lowered = await updateBudget(b.id, { amount: "70" });
    expect(lowered).toMatchObject({ amount: "70.00", spend_usd: "60.0000", used_pct: "85.7" });
    expect(await alertsOf(b.id)).toEqual([`${month}@50`, `${month}@80`]);
    await updateBudget(b.id, { amount: "1000" });
    await updateBudget(b.id, { amount: "70" });
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await alertsOf(b.id)).toEqual([`${month}@50`, `${month}@80`]);
    const [crossed] = await db.select().from(budgetAlerts).where(and(eq(budgetAlerts.budgetId, b.id), eq(budgetAlerts.thresholdPct, 80)));
    expect([round(dec(crossed!.spendUsd), 4), round(dec(crossed!.allowanceUsd), 4)]).toEqual(["60.0000", "70.0000"]);
  });

  test("after a re-pricing the spend is the corrected cost", async () => {
    const { org, agent } = await client();
    const model = `budget-model-${Date.now()}`;
    const day = now.toISOString().slice(0, 10);
    await putPrice(owner, { model, effective_from: lastMonthStart.slice(0, 10), input_per_m: "10", output_per_m: "20" });
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "1" });
    // 1000 × 10 / 1e6 + 500 × 20 / 1e6 = 0.02 USD
    await ingest(admin, [event(agent.id, { model, occurred_at: earlierThisMonth })]);
    expect((await budgetOf(b.id, org.id)).spend_usd).toBe("0.0200");
    await putPrice(owner, { model, effective_from: lastMonthStart.slice(0, 10), input_per_m: "400", output_per_m: "400" });
    await usage.reprice({ ctx: admin, input: repriceInput.parse({ from: earlierThisMonth.slice(0, 10), to: day }) });
    // 1500 × 400 / 1e6 = 0.6 USD
    expect(await budgetOf(b.id, org.id)).toMatchObject({ spend_usd: "0.6000", used_pct: "60.0" });
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await alertsOf(b.id)).toEqual([`${month}@50`]);
  });

  test("a margin floor allows (1 − floor) × the month's projected revenue, in USD at the month's FX", async () => {
    const { org, agent } = await client("100.00");
    const b = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30" });
    expect(b).toMatchObject({ amount: "30.00", allowance_usd: "70.0000" });
    await ingest(admin, [spend(agent.id, "35")]);
    expect((await budgetOf(b.id, org.id)).used_pct).toBe("50.0");

    const eur = await makeOrg(admin, { billing_rate_per_agent: "100.00", currency: "EUR", created_at: lastMonthStart });
    await makeAgent(admin, { org_id: eur.id, created_at: lastMonthStart });
    const fx = (await billing.summary({ ctx: admin, input: { id: eur.id, from: month, to: month } })).summary[0]!.fx_rate!;
    const inEur = await createBudget({ org_id: eur.id, kind: "margin_floor_pct", amount: "30" });
    // Exactly: 70 EUR ÷ fx EUR per USD.
    const [expected] = await rows<{ v: string }>(db, sql`select round(70 / ${fx}::numeric, 4)::text as v`);
    expect(inEur.allowance_usd).toBe(expected!.v);
  });

  test("a margin floor of an organization that bills usage counts its usage charges as revenue, as the billing summary does", async () => {
    const { org, agent } = await client("100.00");
    await invoices.orgSettingsPut({ ctx: admin, input: orgInvoicingInput.parse({ id: org.id, usage_markup_pct: "50" }) });
    const floor = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30" });
    const own = await createBudget({ agent_id: agent.id, kind: "margin_floor_pct", amount: "50" });
    // No usage yet: revenue = seat 100.00 (the whole month, projected) → 0.7 × 100 = 70 USD; the agent's 0.5 × 100 = 50.
    expect(floor.allowance_usd).toBe("70.0000");
    expect(own.allowance_usd).toBe("50.0000");
    await ingest(admin, [spend(agent.id, "20")]);
    // Usage charge 20 × 1.5 = 30.00 → projected revenue 130.00 → allowance 0.7 × 130 = 91; 20 ÷ 91 = 21.97… % → 22.0.
    expect(await budgetOf(floor.id, org.id)).toMatchObject({ spend_usd: "20.0000", allowance_usd: "91.0000", used_pct: "22.0" });
    await ingest(admin, [spend(agent.id, "40")]);
    // Spend 60; usage charge 60 × 1.5 = 90.00 → revenue 190.00 → allowance 133; 60 ÷ 133 = 45.11… % → 45.1:
    // below 50 %, so no alert — on the seat revenue alone (allowance 70) it would be 85.7 % and two alerts.
    expect(await budgetOf(floor.id, org.id)).toMatchObject({ spend_usd: "60.0000", allowance_usd: "133.0000", used_pct: "45.1" });
    // The agent's own line: seat 100.00 + its usage charge 90.00 = 190.00 → 0.5 × 190 = 95; 60 ÷ 95 = 63.15… % → 63.2: 50 % crossed.
    expect((await budgets.list({ ctx: admin, input: { agent: agent.id } })).budgets[0]).toMatchObject({ allowance_usd: "95.0000", used_pct: "63.2" });
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await alertsOf(floor.id)).toEqual([]);
    expect(await alertsOf(own.id)).toEqual([`${month}@50`]);
    // The same revenue as the billing summary reports for the month.
    const summary = (await billing.summary({ ctx: admin, input: { id: org.id, from: month, to: month } })).summary[0]!;
    expect(summary).toMatchObject({ usage_revenue: "90.00", projected_revenue: "190.00" });
  });

  test("a margin floor in a closed month uses the revenue as invoiced, as the billing summary reports it", async () => {
    const MAY = "2025-05-01T00:00:00Z";
    const org = await makeOrg(admin, { billing_rate_per_agent: "100.00", created_at: MAY });
    const agent = await makeAgent(admin, { org_id: org.id, created_at: MAY });
    const markup = (pct: string) => invoices.orgSettingsPut({ ctx: admin, input: orgInvoicingInput.parse({ id: org.id, usage_markup_pct: pct }) });
    await markup("20");
    await ingest(admin, [spend(agent.id, "2", "2025-06-12T08:00:00Z")]);
    // June invoiced: seat 100.00 + usage 2 × 1.2 = 2.40 → 102.40.
    expect((await invoices.finalize({ ctx: admin, input: { id: org.id, month: "2025-06" } })).total).toBe("102.40");
    // Afterwards the markup rises to 50 % and 40 USD of June usage arrives late: June's spend is 42.
    await markup("50");
    await ingest(admin, [spend(agent.id, "40", "2025-06-20T08:00:00Z")]);
    const b = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30" });
    await budgets.evaluate(system, { orgId: org.id, month: "2025-06" });
    // Invoiced revenue 102.40 → allowance 0.7 × 102.40 = 71.68; 42 ÷ 71.68 = 58.6 %: the 50 % alert.
    // (Live it would be 100.00 + 42 × 1.5 = 163.00 → 114.10, 36.8 %: no alert.)
    expect(await alertsOf(b.id)).toEqual(["2025-06@50"]);
    const [alert] = await db.select().from(budgetAlerts).where(eq(budgetAlerts.budgetId, b.id));
    expect(round(dec(alert!.allowanceUsd), 4)).toBe("71.6800");
    const june = (await billing.summary({ ctx: admin, input: { id: org.id, from: "2025-06", to: "2025-06" } })).summary[0]!;
    expect(june).toMatchObject({ is_closed: true, total_revenue: "102.40", projected_revenue: "102.40" });
  });

  test("a margin floor follows a rate change made this month", async () => {
    const { org } = await client("100.00");
    const b = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30" });
    expect(b.allowance_usd).toBe("70.0000");
    await setOrgRate(admin, org.id, "300.00", new Date().toISOString());
    const projected = (await billing.summary({ ctx: admin, input: { id: org.id, from: month, to: month } })).summary[0]!.projected_revenue;
    const after = await budgetOf(b.id, org.id);
    expect(after.allowance_usd).toBe(round(mul(dec("0.7"), dec(projected)), 4));
    expect(Number(after.allowance_usd)).toBeGreaterThan(70);
  });

  test("after an agent moves, its budget counts its usage in both organizations and its floor follows the revenue of both", async () => {
    const { org: from, agent } = await client("100.00");
    const to = await makeOrg(admin, { billing_rate_per_agent: "300.00", created_at: lastMonthStart });
    const cost = await createBudget({ agent_id: agent.id, kind: "cost_usd", amount: "100" });
    const floor = await updateBudget(cost.id, { kind: "margin_floor_pct", amount: "50" });
    expect(floor.allowance_usd).toBe("50.0000");
    await ingest(admin, [spend(agent.id, "20", earlierThisMonth)]);
    await moveAgent(admin, agent.id, to.id, new Date().toISOString());
    await ingest(admin, [spend(agent.id, "5")]);
    const [inFrom, inTo] = await Promise.all(
      [from.id, to.id].map(async (id) => (await billing.records({ ctx: admin, input: { id, from: month, to: month } })).records.find((r) => r.agent_id === agent.id)!.projected_revenue),
    );
    const moved = (await budgets.list({ ctx: admin, input: { agent: agent.id } })).budgets[0]!;
    expect(moved).toMatchObject({ org_id: to.id, spend_usd: "25.0000", allowance_usd: round(mul(dec("0.5"), dec((Number(inFrom) + Number(inTo)).toFixed(2))), 4) });
    // The budget now belongs to the agent's new organization's list, not the old one's.
    expect((await listFor(to.id)).map((x) => x.id)).toContain(cost.id);
    expect((await listFor(from.id)).map((x) => x.id)).not.toContain(cost.id);
  });

  test("bad input is refused field by field and nothing is created", async () => {
    const { org, agent } = await client();
    const bad = budgetCreateInput.safeParse({ org_id: org.id, agent_id: agent.id, kind: "cost", amount: "-1", thresholds_pct: [0, 50, 50] });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["kind", "amount", "thresholds_pct.0", "thresholds_pct"]));
    expect(budgetCreateInput.safeParse({ org_id: org.id, kind: "margin_floor_pct", amount: "100" }).success).toBe(false);
    await createBudget({ org_id: org.id, kind: "cost_usd", amount: "10" });
    expect((await failure(createBudget({ org_id: org.id, kind: "cost_usd", amount: "20" }))).code).toBe("CONFLICT");
    expect((await listFor(org.id)).length).toBe(1);
    expect((await failure(createBudget({ org_id: crypto.randomUUID(), kind: "cost_usd", amount: "20" }))).code).toBe("NOT_FOUND");
  });

  test("organization-bound principals and read keys may not manage budgets; bound ones see none", async () => {
    const { org } = await client();
    expect((await failure(createBudget({ org_id: org.id, kind: "cost_usd", amount: "1" }, ctxFor(database, user("admin", org.id))))).code).toBe("FORBIDDEN");
    expect((await failure(createBudget({ org_id: org.id, kind: "cost_usd", amount: "1" }, ctxFor(database, readKey())))).code).toBe("FORBIDDEN");
    expect((await failure(budgets.list({ ctx: ctxFor(database, user("owner", org.id)), input: {} }))).code).toBe("FORBIDDEN");
  });
});

describe("alerts", () => {
  test("each threshold fires exactly once however many evaluations run at the same time, with one webhook event each", async () => {
    const { org, agent } = await client();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "10", thresholds_pct: [100, 25, 50] });
    expect(b.thresholds_pct).toEqual([25, 50, 100]);
    await ingest(admin, [spend(agent.id, "6")]);
    await Promise.all(Array.from({ length: 8 }, () => budgets.evaluate(system, { orgId: org.id, month })));
    await ingest(admin, [spend(agent.id, "6")]);
    await Promise.all(Array.from({ length: 8 }, () => budgets.evaluate(system, { orgId: org.id, month })));
    expect(await alertsOf(b.id)).toEqual([`${month}@100`, `${month}@25`, `${month}@50`]);
    const sent = await eventsOfType("budget.threshold_crossed", b.id);
    expect(sent.map((d) => d.alert.threshold_pct).sort()).toEqual([100, 25, 50]);
    expect(sent.find((d) => d.alert.threshold_pct === 100)!.alert).toMatchObject({ spend_usd: "12.0000", allowance_usd: "10.0000", organization_id: org.id, month });
  });

  test("ingestion queues an evaluation in its own transaction only when a budget concerns it", async () => {
    const { org, agent } = await client();
    const { agent: other } = await client();
    const queued = async () => (await rows<{ n: number }>(db, sql`select count(*)::int as n from jobs where kind = 'budgets.evaluate' and payload->>'org_id' = ${org.id}`))[0]!.n;
    await ingest(admin, [spend(agent.id, "1")]);
    expect(await queued()).toBe(0);
    await createBudget({ agent_id: agent.id, kind: "cost_usd", amount: "5" });
    await ingest(admin, [spend(agent.id, "1"), spend(other.id, "1")]);
    await ingest(admin, [spend(agent.id, "1")]);
    expect(await queued()).toBe(1);
  });

  test("the alert list is newest first, filters by organization and read state, and marking read lowers the unread count", async () => {
    const { org, agent } = await client();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "4" });
    await ingest(admin, [spend(agent.id, "5")]);
    await budgets.evaluate(system, { orgId: org.id, month });
    const listed = await budgets.listAlerts({ ctx: admin, input: alertListInput.parse({ org: org.slug }) });
    expect(listed.alerts.map((a) => a.threshold_pct).sort()).toEqual([100, 50, 80]);
    expect(listed.unread_count).toBe(3);
    expect(listed.alerts[0]).toMatchObject({ budget_id: b.id, organization_id: org.id, organization_name: org.name, agent_id: null, kind: "cost_usd", read_at: null });
    const read = await budgets.markAlertRead({ ctx: ctxFor(database, user("member")), input: { id: listed.alerts[0]!.id } });
    expect(read.read_at).not.toBeNull();
    const again = await budgets.markAlertRead({ ctx: admin, input: { id: read.id } });
    expect(again.read_at).toBe(read.read_at);
    const unread = await budgets.listAlerts({ ctx: admin, input: alertListInput.parse({ org: org.id, unread: true }) });
    expect([unread.unread_count, unread.alerts.length]).toEqual([2, 2]);
    const page = await budgets.listAlerts({ ctx: admin, input: alertListInput.parse({ org: org.id, limit: 2 }) });
    const rest = await budgets.listAlerts({ ctx: admin, input: alertListInput.parse({ org: org.id, limit: 2, cursor: page.next_cursor! }) });
    expect([...page.alerts, ...rest.alerts].map((a) => a.id).sort()).toEqual(listed.alerts.map((a) => a.id).sort());
    expect((await failure(budgets.markAlertRead({ ctx: ctxFor(database, user("viewer")), input: { id: read.id } }))).code).toBe("FORBIDDEN");
    expect((await failure(budgets.markAlertRead({ ctx: admin, input: { id: crypto.randomUUID() } }))).code).toBe("NOT_FOUND");
  });
});

describe("suspensions", () => {
  const statusOf = async (agentId: string) => {
    const a = await agents.get({ ctx: admin, input: { id: agentId } });
    return `${a.effective_status}/${a.suspension_reason}`;
  };
  const liftReasons = async (budgetId: string) => (await db.select().from(budgetSuspensions).where(eq(budgetSuspensions.budgetId, budgetId))).map((s) => s.liftReason);
  const audited = async (budgetId: string) => (await db.select().from(auditLog).where(eq(auditLog.targetId, budgetId)).orderBy(auditLog.id)).map((e) => e.action);

  test("at 100 % with suspend the organization's agents are suspended (reason budget) and revenue is unchanged; raising the budget lifts it", async () => {
    const { org, agent } = await client();
    const second = await makeAgent(admin, { org_id: org.id, created_at: lastMonthStart });
    const revenue = async () => (await billing.summary({ ctx: admin, input: { id: org.id, from: lastMonth, to: month } })).totals.projected_revenue;
    const before = await revenue();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "10", action_at_100: "suspend" });
    await ingest(admin, [spend(agent.id, "9.99")]);
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await statusOf(agent.id)).toBe("active/null");
    await ingest(admin, [spend(agent.id, "0.01")]);
    await budgets.evaluate(system, { orgId: org.id, month });
    expect([await statusOf(agent.id), await statusOf(second.id)]).toEqual(["suspended/budget", "suspended/budget"]);
    expect((await budgetOf(b.id, org.id)).suspended).toBe(true);
    expect((await agents.list({ ctx: admin, input: { org: org.id, status: "suspended", limit: 100 } })).agents.length).toBe(2);
    expect(await revenue()).toBe(before);
    const suspendedEvents = await eventsOfType("agent.suspended", b.id);
    expect(suspendedEvents.map((d) => d.agent.id).sort()).toEqual([agent.id, second.id].sort());
    expect(suspendedEvents[0]).toMatchObject({ reason: "budget", budget_id: b.id });

    await updateBudget(b.id, { amount: "20" });
    expect(await statusOf(agent.id)).toBe("active/null");
    expect(await liftReasons(b.id)).toEqual(["budget_changed"]);
    expect((await eventsOfType("agent.resumed", b.id)).length).toBe(2);
    expect(await audited(b.id)).toEqual(["budget.create", "budget.suspend", "budget.update", "budget.resume"]);
  });

  test("an agent budget suspends only its agent; staff lift it for the rest of the month; removing a budget lifts its suspension", async () => {
    const { org, agent } = await client();
    const other = await makeAgent(admin, { org_id: org.id, created_at: lastMonthStart });
    const b = await createBudget({ agent_id: agent.id, kind: "cost_usd", amount: "1", action_at_100: "suspend" });
    await ingest(admin, [spend(agent.id, "2")]);
    await budgets.evaluate(system, { orgId: org.id, month });
    expect([await statusOf(agent.id), await statusOf(other.id)]).toEqual(["suspended/budget", "active/null"]);
    const lifted = await budgets.liftSuspension({ ctx: admin, input: { id: b.id } });
    expect(lifted.suspended).toBe(false);
    await ingest(admin, [spend(agent.id, "2")]);
    await budgets.evaluate(system, { orgId: org.id, month });
    expect(await statusOf(agent.id)).toBe("active/null");
    expect((await failure(budgets.liftSuspension({ ctx: admin, input: { id: b.id } }))).code).toBe("CONFLICT");

    const { org: org2, agent: agent2 } = await client();
    const b2 = await createBudget({ org_id: org2.id, kind: "cost_usd", amount: "1", action_at_100: "suspend" });
    await ingest(admin, [spend(agent2.id, "1")]);
    await budgets.evaluate(system, { orgId: org2.id, month });
    expect(await statusOf(agent2.id)).toBe("suspended/budget");
    await budgets.delete({ ctx: admin, input: { id: b2.id } });
    expect(await statusOf(agent2.id)).toBe("active/null");
    expect(await liftReasons(b2.id)).toEqual(["budget_removed"]);
    expect(await alertsOf(b2.id)).toEqual([`${month}@100`, `${month}@50`, `${month}@80`]);
  });

  test("a suspension ends with its month: it no longer applies, and the sweep records the lift, audits it and sends agent.resumed", async () => {
    const { org, agent } = await client();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "100", action_at_100: "suspend" });
    // Last month's suspension, as the evaluation of last month would have left it.
    await db.insert(budgetSuspensions).values({ budgetId: b.id, month: `${lastMonth}-01`, startedAt: new Date(lastMonthStart) });
    expect(await statusOf(agent.id)).toBe("active/null");
    await budgets.sweep(system);
    expect(await liftReasons(b.id)).toEqual(["month_end"]);
    expect(await audited(b.id)).toContain("budget.resume");
    expect((await eventsOfType("agent.resumed", b.id))[0]).toMatchObject({ reason: "budget", month: lastMonth, lifted_because: "month_end" });
  });

  test("the database keeps at most one suspension in force per budget", async () => {
    const { org } = await client();
    const b = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "100" });
    await db.insert(budgetSuspensions).values({ budgetId: b.id, month: `${month}-01` });
    const err = await db
      .insert(budgetSuspensions)
      .values({ budgetId: b.id, month: `${month}-01` })
      .then(() => null, (e) => e);
    expect(err?.cause?.code ?? err?.code).toBe("23505");
  });

  test("deactivating and activating an organization sends agent.suspended and agent.resumed for each agent (reason organization_inactive)", async () => {
    const { org, agent } = await client();
    await agents.update({ ctx: admin, input: agentUpdateInput.parse({ id: agent.id, description: "x" }) });
    await setOrgActive(admin, org.id, false, new Date().toISOString());
    expect(await statusOf(agent.id)).toBe("suspended/organization_inactive");
    await setOrgActive(admin, org.id, true, new Date().toISOString());
    const suspended = await eventsOfType("agent.suspended", agent.id);
    const resumed = await eventsOfType("agent.resumed", agent.id);
    expect(suspended.map((d) => [d.reason, d.agent.effective_status])).toEqual([["organization_inactive", "suspended"]]);
    expect(resumed.map((d) => [d.reason, d.agent.effective_status])).toEqual([["organization_inactive", "active"]]);
  });
});
