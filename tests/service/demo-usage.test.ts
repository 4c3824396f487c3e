import { expect, test } from "bun:test";
import { seedDemoUsage } from "../../server/demo/usage";
import * as billing from "../../server/modules/billing/service";
import { ctxFor } from "../support/actors";
import { moveAgent, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

const database = await testDatabase();
const ctx = ctxFor(database);

test("demo usage fills months of every agent, with an unpriced model, and re-running it adds nothing", async () => {
  const now = Date.now();
  const ago = (days: number) => new Date(now - days * 86_400_000).toISOString();
  const eur = await makeOrg(ctx, { name: "Demo Euro", currency: "EUR", billing_rate_per_agent: "120.00", created_at: ago(100) });
  const gbp = await makeOrg(ctx, { name: "Demo Pound", currency: "GBP", billing_rate_per_agent: "80.00", created_at: ago(100) });
  const agents: { id: string }[] = [];
  for (let i = 0; i < 6; i++) agents.push(await makeAgent(ctx, { org_id: i % 2 ? eur.id : gbp.id, created_at: ago(90) }));
  await moveAgent(ctx, agents[0]!.id, eur.id, ago(30));

  const first = await seedDemoUsage(ctx, { months: 2, seed: 3 });
  expect(first.events).toBeGreaterThan(500);
  const again = await seedDemoUsage(ctx, { months: 2, seed: 3 });
  expect(again.events).toBe(0);

  const s = await billing.summary({ ctx, input: { id: eur.id, months: 3 } });
  expect(Number(s.totals.total_cost_usd)).toBeGreaterThan(0);
  expect(s.summary.filter((m) => m.total_input_tokens > 0).length).toBeGreaterThanOrEqual(2);
  // The agent moved 30 days ago has usage in both organizations.
  const inGbp = await billing.records({ ctx, input: { id: gbp.id, months: 3 } });
  const g = await billing.summary({ ctx, input: { id: gbp.id, months: 3 } });
  expect((s.totals.unpriced_events ?? 0) + (g.totals.unpriced_events ?? 0)).toBeGreaterThan(0);
  expect(inGbp.records.some((r) => r.agent_id === agents[0]!.id && r.input_tokens > 0)).toBe(true);
  const t = await totals(database);
  expect(t.rolled).toEqual(t.raw);
}, 120_000);
