import { afterAll, describe, expect, test } from "bun:test";
import { and, eq, isNull, sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { budgetAlerts, budgetSuspensions, jobs } from "../../db/schema";
import type { Ctx } from "../../server/context";
import { budgetsEvaluateHandler } from "../../server/jobs/handlers/budgets";
import { startJobRunner } from "../../server/jobs/runner";
import { agentUnassignInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import { budgetCreateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import { orgInvoicingInput } from "../../server/modules/invoices/schema";
import * as invoices from "../../server/modules/invoices/service";
import { addMonths, monthOf, monthStart } from "../../server/shared/time";
import { ctxFor, TEST_CONFIG, user } from "../support/actors";
import { event, ingest, putPrice, setAgentRate, setOrgActive, setOrgRate } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { waitFor } from "../support/wait";

/**
 * Budgets follow changes of revenue and spend that are not ingestion (docs/guardrails.md, "When"):
 * each change queues a `budgets.evaluate` job in its transaction, and a job runner that runs only
 * that kind (no `budgets.sweep`, which would also catch them within 5 minutes) evaluates it within
 * moments. Allowances here are computed by hand: every organization bills 100.00 USD per agent and
 * exists since the start of last month, so a change backdated to this month's first second gives
 * whole-month figures whatever the day.
 */

const database = await testDatabase({ max: 12 });
const db = database.db;
const admin: Ctx = ctxFor(database, user("admin"));
const month = monthOf(new Date());
const lastMonthStart = monthStart(addMonths(month, -1)).toISOString();
const thisMonthStart = monthStart(month).toISOString();

const runner = startJobRunner({ database, config: TEST_CONFIG, handlers: [budgetsEvaluateHandler] });
afterAll(() => runner.stop(2000));

const createBudget = (input: Record<string, unknown>) => budgets.create({ ctx: admin, input: budgetCreateInput.parse(input) });
const alertsOf = async (budgetId: string) =>
  (await db.select().from(budgetAlerts).where(eq(budgetAlerts.budgetId, budgetId))).map((a) => a.thresholdPct).sort((x, y) => x - y);
const inForce = async (budgetId: string) => (await db.select().from(budgetSuspensions).where(and(eq(budgetSuspensions.budgetId, budgetId), isNull(budgetSuspensions.liftedAt)))).length > 0;
const liftReasons = async (budgetId: string) => (await db.select().from(budgetSuspensions).where(eq(budgetSuspensions.budgetId, budgetId))).map((s) => s.liftReason);

async function client(agentCount = 1) {
  const org = await makeOrg(admin, { billing_rate_per_agent: "100.00", created_at: lastMonthStart });
  const list = [];
  for (let i = 0; i < agentCount; i++) list.push(await makeAgent(admin, { org_id: org.id, created_at: lastMonthStart }));
  return { org, agents: list };
}

describe("budgets are evaluated again when revenue or spend changes without ingestion", () => {
  test("a raised rate lifts a margin-floor suspension within moments", async () => {
    const { org, agents: [agent] } = await client();
    const b = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30", action_at_100: "suspend" });
    // Allowance 0.7 × 100 = 70 USD; 75 spent is 107 %: suspended (by the job the ingestion queued).
    await ingest(admin, [event(agent!.id, { cost_usd: "75" })]);
    await waitFor("the suspension", () => inForce(b.id));
    // From the month's start at 200.00: allowance 0.7 × 200 = 140; 75 ÷ 140 = 53.6 %: no longer at 100 %.
    await setOrgRate(admin, org.id, "200.00", thisMonthStart);
    await waitFor("the lift", async () => !(await inForce(b.id)));
    expect(await liftReasons(b.id)).toEqual(["budget_changed"]);
  });

  test("an agent moved out lowers the organization's revenue: its margin floor alerts at 100 %", async () => {
    const { org, agents: [a, b] } = await client(2);
    const budget = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30" });
    // Two agents: allowance 0.7 × 200 = 140; 100 spent is 71.4 %: the 50 % alert.
    await ingest(admin, [event(a!.id, { cost_usd: "100" })]);
    await waitFor("the 50 % alert", async () => (await alertsOf(budget.id)).length === 1);
    // B leaves from the month's start: allowance 0.7 × 100 = 70; 100 ÷ 70 = 142.9 %: 80 and 100 too.
    await agents.unassign({ ctx: admin, input: agentUnassignInput.parse({ id: b!.id, effective_at: thisMonthStart }) });
    await waitFor("the 80 and 100 % alerts", async () => (await alertsOf(budget.id)).length === 3);
    expect(await alertsOf(budget.id)).toEqual([50, 80, 100]);
  });

  test("a lower custom rate, and then deactivating the organization, move the allowance down", async () => {
    const { org, agents: [agent] } = await client();
    const budget = await createBudget({ agent_id: agent!.id, kind: "margin_floor_pct", amount: "50" });
    // Allowance 0.5 × 100 = 50; 20 spent is 40 %.
    await ingest(admin, [event(agent!.id, { cost_usd: "20" })]);
    await Bun.sleep(100);
    expect(await alertsOf(budget.id)).toEqual([]);
    // A custom rate of 50.00 from the month's start: allowance 25; 20 ÷ 25 = 80 %: 50 and 80.
    await setAgentRate(admin, agent!.id, "50.00", thisMonthStart);
    await waitFor("the 50 and 80 % alerts", async () => (await alertsOf(budget.id)).length === 2);
    // Inactive from the month's start: no revenue, allowance 0, and 20 spent crosses 100 % as well.
    await setOrgActive(admin, org.id, false, thisMonthStart);
    await waitFor("the 100 % alert", async () => (await alertsOf(budget.id)).length === 3);
  });

  test("a usage markup counts as revenue: setting one lifts a margin-floor suspension", async () => {
    const { org, agents: [agent] } = await client();
    const b = await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30", action_at_100: "suspend" });
    await ingest(admin, [event(agent!.id, { cost_usd: "80" })]);
    await waitFor("the suspension", () => inForce(b.id));
    // Markup 100 %: usage charge 160.00, revenue 260.00, allowance 0.7 × 260 = 182; 80 ÷ 182 = 44 %.
    await invoices.orgSettingsPut({ ctx: admin, input: orgInvoicingInput.parse({ id: org.id, usage_markup_pct: "100" }) });
    await waitFor("the lift", async () => !(await inForce(b.id)));
  });

  test("a price added for unpriced usage raises the spend: the cost budget alerts", async () => {
    const { org, agents: [agent] } = await client();
    const model = `reeval-model-${crypto.randomUUID().slice(0, 8)}`;
    const budget = await createBudget({ org_id: org.id, kind: "cost_usd", amount: "10" });
    await ingest(admin, [event(agent!.id, { model, input_tokens: 1_000_000, output_tokens: 0 })]);
    await Bun.sleep(100);
    expect(await alertsOf(budget.id)).toEqual([]);
    // Priced now at 6.00 per 1M input tokens: 6 USD of 10 = 60 %.
    await putPrice(ctxFor(database, user("owner")), { model, effective_from: "2000-01-01", input_per_m: "6.00", output_per_m: "6.00" });
    await waitFor("the 50 % alert", async () => (await alertsOf(budget.id)).length === 1);
  });
});

describe("the evaluation is queued in the change's transaction, once per organization and month", () => {
  test("several changes before the runner gets to them leave one queued job; a refused change leaves none", async () => {
    const { org } = await client(1);
    await createBudget({ org_id: org.id, kind: "margin_floor_pct", amount: "30" });
    const queued = () => rows<{ n: number }>(db, sql`select count(*)::int as n from ${jobs} where ${jobs.kind} = 'budgets.evaluate' and ${jobs.key} = ${`${org.id}|${month}`} and ${jobs.state} = 'queued'`);
    // The runner stops here (this is the file's last test): the jobs stay queued to be counted.
    await runner.stop(2000);
    {
      await setOrgRate(admin, org.id, "110.00", new Date(Date.now() - 2000).toISOString());
      await setOrgRate(admin, org.id, "120.00", new Date(Date.now() - 1000).toISOString());
      expect((await queued())[0]!.n).toBe(1);
      // A change refused by its bounds (before the organization existed) rolls back with its job.
      await db.delete(jobs).where(eq(jobs.kind, "budgets.evaluate"));
      await expect(setOrgRate(admin, org.id, "130.00", "2000-01-01T00:00:00Z")).rejects.toThrow();
      expect((await queued())[0]!.n).toBe(0);
      // A change backdated four months queues the previous and the current month only.
      const old = await makeOrg(admin, { billing_rate_per_agent: "100.00", created_at: monthStart(addMonths(month, -5)).toISOString() });
      await createBudget({ org_id: old.id, kind: "margin_floor_pct", amount: "30" });
      await setOrgRate(admin, old.id, "90.00", monthStart(addMonths(month, -4)).toISOString());
      const keys = await rows<{ key: string }>(db, sql`select ${jobs.key} as key from ${jobs} where ${jobs.kind} = 'budgets.evaluate' and ${jobs.key} like ${`${old.id}|%`} order by 1`);
      expect(keys.map((k) => k.key)).toEqual([`${old.id}|${addMonths(month, -1)}`, `${old.id}|${month}`]);
    }
  });
});
