import type { Database } from "../../../db/client";
import { seedDemo } from "../../../server/demo/seed";
import { monthOf } from "../../../server/shared/time";
import { ctxFor, platformKey } from "../../support/actors";
import type { client } from "../../support/http";

/**
 * Demo organizations and agents (the product's own demo seeding), plus a year of token usage sent
 * through POST /api/usage as the agent runtime would: one event per agent and month, with its cost
 * (to four decimals, like priced token usage).
 * The current month's usage so far is in proportion to the part of the month gone, like its revenue
 * (on the 1st, a whole month's cost beside a day's revenue would show everyone losing money).
 * Quiet Pines' only agent is expensive this month, so that organization loses money.
 */
export async function seedDemoWithUsage(database: Database, api: ReturnType<typeof client>, now = new Date()) {
  await seedDemo(ctxFor(database, platformKey), now);
  const agents: { id: string; name: string; created_at: string }[] = (await api.get("/api/agents?limit=500")).body.agents;
  const current = monthOf(now);
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const monthLength = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - monthStart;
  const gone = Math.max((now.getTime() - monthStart) / monthLength, 1 / 30);
  const events = [];
  for (const [i, agent] of agents.entries()) {
    for (let back = 0; back < 12; back++) {
      const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1));
      const at = monthOf(first) === current ? new Date(Math.max(first.getTime(), now.getTime() - 3_600_000)) : new Date(first.getTime() + 19 * 86_400_000 + 12 * 3_600_000);
      if (at.getTime() <= new Date(agent.created_at).getTime()) continue;
      const dollars = agent.name === "Guest Concierge" && back === 0 ? 80 : 2 + ((i * 7 + back * 3) % 23);
      // In ten-thousandths of a dollar: four decimals, as token costs are (the screens must still show cents).
      const full = dollars * 10_000 + ((i * 13 + back) % 100) * 100 + ((i * 7 + back * 3) % 100);
      const cost = back === 0 ? Math.max(1, Math.round(full * gone)) : full;
      events.push({
        id: `demo-${agent.id}-${back}`,
        agent_id: agent.id,
        model: "claude-sonnet-4",
        input_tokens: 200_000 + i * 1_000 + back * 500,
        output_tokens: 40_000 + i * 100,
        cost_usd: `${Math.floor(cost / 10_000)}.${String(cost % 10_000).padStart(4, "0")}`,
        occurred_at: at.toISOString(),
      });
    }
  }
  const result = await api.post("/api/usage", { events });
  if (result.status !== 200 || result.body.rejected.length > 0) throw new Error(`usage seeding failed: ${JSON.stringify(result.body).slice(0, 500)}`);
  return { agents: agents.length, events: events.length };
}
