import { describe, expect, test } from "bun:test";
import { ctxFor, user } from "../support/actors";
import { putFx, event, ingest, moveAgent, setAgentRate, setAgentStatus, setOrgActive, totals } from "../support/billing";
import { agentAssignInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import * as billing from "../../server/modules/billing/service";
import { orgCreateInput, orgUpdateInput } from "../../server/modules/orgs/schema";
import * as orgs from "../../server/modules/orgs/service";

// Hand-computed scenarios (docs/billing.md has the same numbers). June 2025 has 30 days.
const database = await testDatabase();
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const june = { from: "2025-06", to: "2025-06" };

async function juneOf(orgId: string) {
  const s = await billing.summary({ ctx, input: { id: orgId, ...june } });
  const r = await billing.records({ ctx, input: { id: orgId, ...june } });
  return { month: s.summary[0]!, totals: s.totals, records: r.records };
}

describe("billing scenarios, to the cent", () => {
  test("the reference example: rate 99.00 USD, token cost 3.00 USD → margin 96.00, 97.0 %", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const res = await ingest(ctx, [event(agent.id, { cost_usd: "3.00", occurred_at: "2025-06-15T12:00:00Z" })]);
    expect(res).toEqual({ accepted: 1, duplicates: 0, unpriced: 0, rejected: [] });
    const { month, records } = await juneOf(org.id);
    expect(month).toMatchObject({
      month: "2025-06",
      is_partial: false,
      agent_count: 1,
      total_revenue: "99.00",
      projected_revenue: "99.00",
      total_cost: "3.00",
      total_cost_usd: "3.0000",
      fx_rate: "1",
      margin: "96.00",
      margin_pct: "97.0",
      total_input_tokens: 1000,
      total_output_tokens: 500,
      unpriced_events: 0,
    });
    expect(records).toEqual([
      {
        month: "2025-06",
        agent_id: agent.id,
        agent_name: agent.name,
        is_partial: false,
        rate: "99.00",
        rate_source: "default",
        billed_days: 30,
        revenue: "99.00",
        seat_revenue: "99.00",
        usage_revenue: "0.00",
        projected_revenue: "99.00",
        token_cost: "3.00",
        token_cost_usd: "3.0000",
        input_tokens: 1000,
        output_tokens: 500,
        cache_tokens: 0,
        unpriced_events: 0,
        margin: "96.00",
        margin_pct: "97.0",
      },
    ]);
  });

  test("an agent moved on the 10th between a USD org at 99.00 and a EUR org at 120.00 is billed 9 and 21 days", async () => {
    await putFx(ctx, "EUR", "2025-01-01", "0.9");
    const a = await makeOrg(ctx, { billing_rate_per_agent: "99.00", currency: "USD", created_at: BEFORE });
    const b = await makeOrg(ctx, { billing_rate_per_agent: "120.00", currency: "EUR", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: a.id, created_at: BEFORE });
    await ingest(ctx, [event(agent.id, { cost_usd: "1.50", occurred_at: "2025-06-05T08:00:00Z" })]);
    await moveAgent(ctx, agent.id, b.id, "2025-06-10T00:00:00Z");
    await ingest(ctx, [
      event(agent.id, { cost_usd: "2.00", occurred_at: "2025-06-20T08:00:00Z" }),
      // Sent after the move, it occurred before: it belongs to the old organization.
      event(agent.id, { cost_usd: "0.50", occurred_at: "2025-06-09T23:59:59Z" }),
    ]);
    const ja = await juneOf(a.id);
    expect(ja.records).toHaveLength(1);
    expect(ja.records[0]).toMatchObject({ billed_days: 9, revenue: "29.70", token_cost: "2.00", token_cost_usd: "2.0000", margin: "27.70", margin_pct: "93.3" });
    expect(ja.month).toMatchObject({ total_revenue: "29.70", total_cost: "2.00", margin: "27.70", margin_pct: "93.3", fx_rate: "1" });
    const jb = await juneOf(b.id);
    // 120 × 21/30 = 84.00 EUR; cost 2.00 USD × 0.9 = 1.80 EUR; 82.20 / 84.00 = 97.857 %.
    expect(jb.records[0]).toMatchObject({ billed_days: 21, revenue: "84.00", token_cost: "1.80", token_cost_usd: "2.0000", margin: "82.20", margin_pct: "97.9" });
    expect(jb.month).toMatchObject({ total_revenue: "84.00", total_cost: "1.80", total_cost_usd: "2.0000", fx_rate: "0.9", margin: "82.20", margin_pct: "97.9" });
    // The agent has moved away, yet it stays on the old organization's June bill; July is the new org's alone.
    const july = await billing.records({ ctx, input: { id: a.id, from: "2025-07", to: "2025-07" } });
    expect(july.records).toEqual([]);
    const julyB = await billing.records({ ctx, input: { id: b.id, from: "2025-07", to: "2025-07" } });
    expect(julyB.records[0]).toMatchObject({ revenue: "120.00", billed_days: 31 });
  });

  test("a custom rate set on the 11th and cleared on the 21st bills 20 days at the default and 10 at the custom rate", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "100.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await setAgentRate(ctx, agent.id, "50.00", "2025-06-11T00:00:00Z");
    await setAgentRate(ctx, agent.id, null, "2025-06-21T00:00:00Z");
    const { month, records } = await juneOf(org.id);
    // 100 × 20/30 + 50 × 10/30 = 83.333… → 83.33
    expect(records[0]).toMatchObject({ revenue: "83.33", rate: "100.00", rate_source: "default", billed_days: 30 });
    expect(month).toMatchObject({ total_revenue: "83.33", total_cost: "0.00", margin: "83.33", margin_pct: "100.0" });
    // May was billed entirely at the default; a rate change is never retroactive.
    const may = await billing.records({ ctx, input: { id: org.id, from: "2025-05", to: "2025-05" } });
    expect(may.records[0]).toMatchObject({ revenue: "100.00" });
  });

  test("a custom rate still in force at the month's end is shown as the line's rate", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "100.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await setAgentRate(ctx, agent.id, "40.00", "2025-06-16T00:00:00Z");
    const { records } = await juneOf(org.id);
    // 100 × 15/30 + 40 × 15/30 = 70.00
    expect(records[0]).toMatchObject({ revenue: "70.00", rate: "40.00", rate_source: "custom" });
  });

  test("an organization deactivated for 5 days bills 25 days", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "90.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await setOrgActive(ctx, org.id, false, "2025-06-05T00:00:00Z");
    await setOrgActive(ctx, org.id, true, "2025-06-10T00:00:00Z");
    // Usage while suspended is still a cost.
    await ingest(ctx, [event(agent.id, { cost_usd: "1.25", occurred_at: "2025-06-07T00:00:00Z" })]);
    const { month, records } = await juneOf(org.id);
    expect(records[0]).toMatchObject({ billed_days: 25, revenue: "75.00", token_cost: "1.25", margin: "73.75", margin_pct: "98.3" });
    expect(month).toMatchObject({ total_revenue: "75.00", agent_count: 1 });
  });

  test("a free agent (0.00) in a paid organization brings cost and no revenue", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const paid = await makeAgent(ctx, { name: "Paid agent", org_id: org.id, created_at: BEFORE });
    const free = await makeAgent(ctx, { name: "Free agent", org_id: org.id, created_at: BEFORE });
    await setAgentRate(ctx, free.id, "0.00", BEFORE);
    await ingest(ctx, [event(free.id, { cost_usd: "0.40", occurred_at: "2025-06-03T00:00:00Z" })]);
    const { month, records } = await juneOf(org.id);
    expect(records.map((r) => r.agent_name)).toEqual(["Free agent", "Paid agent"]);
    expect(records[0]).toMatchObject({ agent_id: free.id, rate: "0.00", rate_source: "custom", revenue: "0.00", token_cost: "0.40", margin: "-0.40", margin_pct: null });
    expect(records[1]).toMatchObject({ agent_id: paid.id, revenue: "99.00", token_cost: "0.00", margin: "99.00", margin_pct: "100.0" });
    // 98.60 / 99.00 = 99.596 % → 99.6
    expect(month).toMatchObject({ agent_count: 2, total_revenue: "99.00", total_cost: "0.40", margin: "98.60", margin_pct: "99.6" });
  });

  test("FX applies to a EUR organization: the month uses the latest rate effective before its end", async () => {
    await putFx(ctx, "EUR", "2025-01-01", "0.92");
    await putFx(ctx, "EUR", "2025-07-01", "0.95");
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", currency: "EUR", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await ingest(ctx, [
      event(agent.id, { cost_usd: "3.00", occurred_at: "2025-06-30T23:59:59Z" }),
      event(agent.id, { cost_usd: "3.00", occurred_at: "2025-07-01T00:00:00Z" }),
    ]);
    const s = await billing.summary({ ctx, input: { id: org.id, from: "2025-06", to: "2025-07" } });
    // June: 3.00 USD × 0.92 = 2.76 EUR; 96.24 / 99 = 97.21 % → 97.2
    expect(s.summary[0]).toMatchObject({ month: "2025-06", fx_rate: "0.92", total_cost_usd: "3.0000", total_cost: "2.76", margin: "96.24", margin_pct: "97.2" });
    // July: 3.00 × 0.95 = 2.85; 96.15 / 99 = 97.12 % → 97.1
    expect(s.summary[1]).toMatchObject({ month: "2025-07", fx_rate: "0.95", total_cost: "2.85", margin: "96.15", margin_pct: "97.1" });
    expect(s.totals).toMatchObject({ total_revenue: "198.00", total_cost: "5.61", total_cost_usd: "6.0000", fx_rate: null, margin: "192.39", margin_pct: "97.2" });
  });

  test("time while the agent is archived is not billed", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await setAgentStatus(ctx, agent.id, "archived", "2025-06-16T00:00:00Z");
    const { records } = await juneOf(org.id);
    expect(records[0]).toMatchObject({ revenue: "49.50", billed_days: 15 });
  });

  test("the current month counts revenue up to now and projects the full month", async () => {
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: monthStart.toISOString() });
    await makeAgent(ctx, { org_id: org.id, created_at: monthStart.toISOString() });
    const s = await billing.summary({ ctx, input: { id: org.id, months: 1 } });
    const m = s.summary[0]!;
    expect(m.is_partial).toBe(true);
    expect(m.projected_revenue).toBe("99.00");
    const elapsed = (Date.now() - monthStart.getTime()) / (Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - monthStart.getTime());
    expect(Math.abs(Number(m.total_revenue) - 99 * elapsed)).toBeLessThan(0.02);
    expect(s.totals.is_partial).toBe(true);
  });

  test("a read right after assign-org or a rate change, in the same second, shows the rate now in effect", async () => {
    // Proration works in whole seconds; the bug showed when the change and the read fell in one.
    // Start just after a second begins, so that both do.
    await Bun.sleep(1000 - (Date.now() % 1000) + 5);
    const org = await orgs.create({ ctx, input: orgCreateInput.parse({ name: `Same Second ${Date.now()}`, billing_rate_per_agent: "99.00" }) });
    const agent = await makeAgent(ctx);
    await agents.assign({ ctx, input: agentAssignInput.parse({ id: agent.id, org_id: org.id }) });
    const [line] = (await billing.records({ ctx, input: { id: org.id, months: 1 } })).records;
    expect({ rate: line?.rate, rate_source: line?.rate_source }).toEqual({ rate: "99.00", rate_source: "default" });
    await setAgentRate(ctx, agent.id, "120.00", new Date().toISOString());
    const [changed] = (await billing.records({ ctx, input: { id: org.id, months: 1 } })).records;
    expect({ rate: changed?.rate, rate_source: changed?.rate_source }).toEqual({ rate: "120.00", rate_source: "custom" });
    const summary = (await billing.summary({ ctx, input: { id: org.id, months: 1 } })).summary[0]!;
    expect(summary.projected_revenue).toBe(changed!.projected_revenue);
  });

  test("an organization-bound caller sees what it is charged, never token cost or margin", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "99.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await ingest(ctx, [event(agent.id, { cost_usd: "3.00", occurred_at: "2025-06-15T00:00:00Z" })]);
    const bound = ctxFor(database, user("viewer", org.id));
    const s = await billing.summary({ ctx: bound, input: { id: org.id, ...june } });
    const r = await billing.records({ ctx: bound, input: { id: org.id, ...june } });
    for (const obj of [s.summary[0]!, s.totals, r.records[0]!] as Record<string, unknown>[]) {
      for (const key of ["total_cost", "total_cost_usd", "token_cost", "token_cost_usd", "margin", "margin_pct", "fx_rate", "unpriced_events"]) {
        expect(key in obj).toBe(false);
      }
    }
    expect(s.summary[0]!.total_revenue).toBe("99.00");
    expect(r.records[0]!.revenue).toBe("99.00");
    const other = await makeOrg(ctx, { created_at: BEFORE });
    await expect(billing.summary({ ctx: bound, input: { id: other.id, ...june } })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  test("the currency cannot change once an agent has been assigned to the organization", async () => {
    const org = await makeOrg(ctx, { currency: "USD", created_at: BEFORE });
    await orgs.update({ ctx, input: orgUpdateInput.parse({ id: org.id, currency: "GBP" }) });
    await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await expect(orgs.update({ ctx, input: orgUpdateInput.parse({ id: org.id, currency: "EUR" }) })).rejects.toMatchObject({ code: "CONFLICT" });
    const after = await orgs.get({ ctx, input: { id: org.id } });
    expect(after.currency).toBe("GBP");
  });

  test("raw and rollup totals are equal after all the scenarios", async () => {
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  });
});
