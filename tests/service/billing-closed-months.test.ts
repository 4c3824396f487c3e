import { describe, expect, test } from "bun:test";
import * as billing from "../../server/modules/billing/service";
import { orgInvoicingInput } from "../../server/modules/invoices/schema";
import * as invoices from "../../server/modules/invoices/service";
import { ctxFor, readKey } from "../support/actors";
import { event, ingest, putFx } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

// Usage charges in the billing summary, and closed months reported as invoiced (docs/billing.md,
// "Usage charges" and "Month close and invoices"). Every month here ended long before the tests run;
// June 2025 has 30 days, July 31.
const database = await testDatabase({ max: 20 });
const ctx = ctxFor(database);
const MAY = "2025-05-01T00:00:00Z";

const setMarkup = (orgId: string, pct: string | null) => invoices.orgSettingsPut({ ctx, input: orgInvoicingInput.parse({ id: orgId, usage_markup_pct: pct }) });
const summary = (orgId: string, from: string, to: string, c = ctx) => billing.summary({ ctx: c, input: { id: orgId, from, to } });
const june = (agentId: string, cost: string, model: string) => event(agentId, { cost_usd: cost, model, occurred_at: "2025-06-12T08:00:00Z" });

/** A USD org at 100.00 per agent with one agent all of June, and usage on four models. */
async function orgWithUsage(markup: string | null) {
  const org = await makeOrg(ctx, { billing_rate_per_agent: "100.00", created_at: MAY });
  const agent = await makeAgent(ctx, { org_id: org.id, created_at: MAY });
  if (markup !== null) await setMarkup(org.id, markup);
  await ingest(ctx, [june(agent.id, "1.234567", "gpt-4o"), june(agent.id, "0.765433", "gpt-4o"), june(agent.id, "0.333333", "claude-x"), june(agent.id, "0.004", "mini-a"), june(agent.id, "0.004", "mini-b")]);
  return { org, agent };
}

describe("billing summary: usage charges and closed months", () => {
  test("a 20 % markup adds the usage charges, rounded per model, to revenue; the invoice draft agrees", async () => {
    const { org } = await orgWithUsage("20");
    // Seat: 100.00 (the whole of June). Usage at USD fx 1 × 1.20, one rounding per model:
    //   claude-x 0.333333 × 1.2 = 0.3999996 → 0.40;  gpt-4o 2.000000 × 1.2 = 2.40;
    //   mini-a 0.004 × 1.2 = 0.0048 → 0.00;  mini-b likewise 0.00   (rounding the sum, 0.0096, would give 0.01).
    //   usage 0.40 + 2.40 = 2.80; revenue 100.00 + 2.80 = 102.80.
    // Cost: 2.341333 USD → 2.3413 (4 decimals), 2.34 in USD money; margin 102.80 − 2.34 = 100.46;
    //   margin % 100.46 ÷ 102.80 × 100 = 97.72… → 97.7.
    const s = await summary(org.id, "2025-06", "2025-06");
    expect(s.summary).toEqual([
      expect.objectContaining({
        month: "2025-06",
        seat_revenue: "100.00",
        usage_revenue: "2.80",
        total_revenue: "102.80",
        projected_revenue: "102.80",
        total_cost_usd: "2.3413",
        total_cost: "2.34",
        margin: "100.46",
        margin_pct: "97.7",
        is_closed: false,
        invoice_number: null,
      }),
    ]);
    expect(s.totals).toMatchObject({ seat_revenue: "100.00", usage_revenue: "2.80", total_revenue: "102.80", margin: "100.46" });
    const draft = await invoices.get({ ctx, input: { id: org.id, month: "2025-06" } });
    expect(draft.total).toBe(s.summary[0]!.total_revenue);
    // Revenue, not cost: a caller bound to the organization sees the seat and usage revenue, and no cost or margin.
    const bound = await summary(org.id, "2025-06", "2025-06", ctxFor(database, readKey(org.id)));
    expect(bound.summary[0]).toMatchObject({ seat_revenue: "100.00", usage_revenue: "2.80", total_revenue: "102.80" });
    expect(bound.summary[0]).not.toHaveProperty("total_cost");
    expect(bound.summary[0]).not.toHaveProperty("margin");
  });

  test("an organization that does not bill usage: usage_revenue 0.00 and revenue unchanged", async () => {
    const { org } = await orgWithUsage(null);
    // Seat 100.00 only; cost 2.34 → margin 97.66, 97.66 ÷ 100 × 100 = 97.66 → 97.7.
    const s = await summary(org.id, "2025-06", "2025-06");
    expect(s.summary[0]).toMatchObject({ seat_revenue: "100.00", usage_revenue: "0.00", total_revenue: "100.00", total_cost: "2.34", margin: "97.66", margin_pct: "97.7", is_closed: false, invoice_number: null });
  });

  test("a closed month whose usage changed after finalization: revenue as invoiced, cost as now known", async () => {
    const { org, agent } = await orgWithUsage("20");
    const inv = await invoices.finalize({ ctx, input: { id: org.id, month: "2025-06" } });
    expect(inv.total).toBe("102.80");
    // Late June usage: gpt-4o 0.5 USD more. The June invoice stays 102.80; its charge (0.5 × 1.2 = 0.60) goes on July's draft.
    await ingest(ctx, [june(agent.id, "0.5", "gpt-4o")]);
    // A markup change after the close does not touch June either.
    await setMarkup(org.id, "50");
    const s = await summary(org.id, "2025-06", "2025-07");
    // June: revenue as invoiced, 100.00 seat + 2.80 usage = 102.80. Cost now 2.841333 → 2.8413 USD, 2.84;
    //   margin 102.80 − 2.84 = 99.96; 99.96 ÷ 102.80 × 100 = 97.237… → 97.2.
    expect(s.summary[0]).toMatchObject({
      month: "2025-06",
      is_closed: true,
      invoice_number: inv.number,
      seat_revenue: "100.00",
      usage_revenue: "2.80",
      total_revenue: "102.80",
      projected_revenue: "102.80",
      total_cost_usd: "2.8413",
      total_cost: "2.84",
      margin: "99.96",
      margin_pct: "97.2",
    });
    // July: open, the whole month's seat (100.00) and no July usage; the June adjustment is billed on July's invoice, not July's revenue.
    expect(s.summary[1]).toMatchObject({ month: "2025-07", is_closed: false, invoice_number: null, seat_revenue: "100.00", usage_revenue: "0.00", total_revenue: "100.00", total_cost: "0.00" });
    // Totals: 102.80 + 100.00 = 202.80; cost 2.84; margin 199.96.
    expect(s.totals).toMatchObject({ total_revenue: "202.80", seat_revenue: "200.00", usage_revenue: "2.80", total_cost: "2.84", margin: "199.96" });
    // The organization's Billing tab and the overview report June the same way.
    const view = await billing.orgView({ ctx, input: { id: org.id, from: "2025-06", to: "2025-06" } });
    expect(view.summary[0]).toEqual(s.summary[0]!);
    const overview = await billing.overview({ ctx, input: { month: "2025-06" } });
    expect(overview.organizations.find((o) => o.id === org.id)).toMatchObject({ is_closed: true, invoice_number: inv.number, total_revenue: "102.80", total_cost: "2.84" });

    // Voided, June is open again: live figures at today's markup 50 %:
    //   claude-x 0.333333 × 1.5 = 0.4999995 → 0.50; gpt-4o 2.5 × 1.5 = 3.75; mini-a/b 0.006 → 0.01 each; usage 4.27; revenue 104.27.
    await invoices.void({ ctx, input: { number: inv.number!, reason: "re-issue" } });
    const reopened = await summary(org.id, "2025-06", "2025-06");
    expect(reopened.summary[0]).toMatchObject({ is_closed: false, invoice_number: null, seat_revenue: "100.00", usage_revenue: "4.27", total_revenue: "104.27" });
  });
});

describe("AgentMonth records: seat and usage revenue per agent", () => {
  test("each agent's usage charge is rounded per agent and model; the month's per model over the organization", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "100.00", created_at: MAY });
    const a = await makeAgent(ctx, { org_id: org.id, created_at: MAY, name: "Split A" });
    const b = await makeAgent(ctx, { org_id: org.id, created_at: MAY, name: "Split B" });
    await setMarkup(org.id, "20");
    await ingest(ctx, [june(a.id, "0.005", "gpt-4o"), june(a.id, "0.333333", "claude-x"), june(b.id, "0.005", "gpt-4o")]);
    // Per agent and model, × 1.2, rounded half to even:
    //   A: gpt-4o 0.006 → 0.01, claude-x 0.3999996 → 0.40 → usage 0.41, revenue 100.41;
    //      cost 0.338333 USD → 0.3383, 0.34; margin 100.41 − 0.34 = 100.07; 100.07 ÷ 100.41 = 99.66… % → 99.7.
    //   B: gpt-4o 0.006 → 0.01 → usage 0.01, revenue 100.01; cost 0.005 → 0.0050, 0.00 (half to even); margin 100.01, 100.0 %.
    // The month, per model over the organization: gpt-4o 0.010 × 1.2 = 0.012 → 0.01, claude-x 0.40 → usage 0.41:
    //   one minor unit less than the agents' 0.01 + 0.01 + 0.40 = 0.42.
    const records = (await billing.records({ ctx, input: { id: org.id, from: "2025-06", to: "2025-06" } })).records;
    expect(records.map((r) => ({ name: r.agent_name, seat: r.seat_revenue, usage: r.usage_revenue, revenue: r.revenue, projected: r.projected_revenue, cost: r.token_cost, margin: r.margin, pct: r.margin_pct }))).toEqual([
      { name: "Split A", seat: "100.00", usage: "0.41", revenue: "100.41", projected: "100.41", cost: "0.34", margin: "100.07", pct: "99.7" },
      { name: "Split B", seat: "100.00", usage: "0.01", revenue: "100.01", projected: "100.01", cost: "0.00", margin: "100.01", pct: "100.0" },
    ]);
    const s = await summary(org.id, "2025-06", "2025-06");
    expect(s.summary[0]).toMatchObject({ seat_revenue: "200.00", usage_revenue: "0.41", total_revenue: "200.41", projected_revenue: "200.41" });
    // The invoice bills the seats as the records' seat revenue and the usage per model, as the month.
    const draft = await invoices.get({ ctx, input: { id: org.id, month: "2025-06" } });
    expect(draft.lines.map((l) => [l.kind, l.amount])).toEqual([
      ["seat", "100.00"],
      ["seat", "100.00"],
      ["usage", "0.40"],
      ["usage", "0.01"],
    ]);
    expect(draft.total).toBe("200.41");
    // The CSV carries both columns, between revenue and projected revenue.
    const csv = await billing.export({ ctx, input: { id: org.id, from: "2025-06", to: "2025-06", format: "csv" } });
    const [header, first] = csv.content.split("\r\n");
    expect(header).toContain("billed_days,revenue,seat_revenue,usage_revenue,projected_revenue");
    expect(first).toContain(",100.41,100.00,0.41,100.41,");
    // An organization-bound caller sees the split (it is what the client is charged).
    const bound = await billing.records({ ctx: ctxFor(database, readKey(org.id)), input: { id: org.id, from: "2025-06", to: "2025-06" } });
    expect(bound.records[0]).toMatchObject({ seat_revenue: "100.00", usage_revenue: "0.41", revenue: "100.41" });
    expect(bound.records[0]).not.toHaveProperty("margin");
  });

  test("without a usage markup the records' usage revenue is 0.00 and revenue is the seat revenue", async () => {
    const { org } = await orgWithUsage(null);
    const [r] = (await billing.records({ ctx, input: { id: org.id, from: "2025-06", to: "2025-06" } })).records;
    expect(r).toMatchObject({ seat_revenue: "100.00", usage_revenue: "0.00", revenue: "100.00", projected_revenue: "100.00", token_cost: "2.34", margin: "97.66" });
  });
});
