import type { Ctx } from "../context";
import { agentListInput } from "../modules/agents/schema";
import * as agentService from "../modules/agents/service";
import { orgListInput } from "../modules/orgs/schema";
import * as orgService from "../modules/orgs/service";
import * as usage from "../modules/usage/service";
import { prng } from "../shared/random";

/** Widely used models with a price in the default table, and how input-heavy each agent's work on it is. */
const MODELS = [
  { model: "gpt-4o-mini", provider: "openai" },
  { model: "gpt-4.1", provider: "openai" },
  { model: "gpt-4o", provider: "openai" },
  { model: "claude-sonnet-4", provider: "anthropic" },
  { model: "claude-3-5-haiku", provider: "anthropic" },
  { model: "gemini-2.5-flash", provider: "google" },
  { model: "gemini-2.5-pro", provider: "google" },
  { model: "o3", provider: "openai" },
];
/** A model without a price: its events stay unpriced until staff add one (docs/billing.md, "Unpriced events"). */
export const DEMO_UNPRICED_MODEL = "acme-llm-2";

/** Agents whose work is token-hungry: long documents on large models, enough to make a client lose money. */
const HEAVY_AGENTS = new Set(["Route Planner", "Fleet Monitor", "Guest Concierge"]);
const HEAVY_MODELS = [
  { model: "o3", provider: "openai" },
  { model: "claude-sonnet-4", provider: "anthropic" },
];

const DAY = 86_400_000;
const BATCH = 1000;

async function allOrgs(ctx: Ctx) {
  const out = [];
  let cursor: string | undefined;
  do {
    const page = await orgService.list({ ctx, input: orgListInput.parse({ limit: 500, cursor }) });
    out.push(...page.organizations);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return out;
}

async function allAgents(ctx: Ctx) {
  const out = [];
  let cursor: string | undefined;
  do {
    const page = await agentService.list({ ctx, input: agentListInput.parse({ limit: 500, cursor }) });
    out.push(...page.agents);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return out;
}

/**
 * Ingests `months` (default 12) of realistic usage for every agent the demo created, through the
 * usage service in batches of 1000: a few to a few dozen calls per working day, a main and a
 * secondary model per agent, cache reads for chat-heavy agents, some events carrying their own
 * cost, and, for a few agents in the last two months, a model without a price. Event ids are
 * deterministic, so running it twice stores nothing new. Each event lands in the organization the
 * agent belonged to when it occurred, so the demo's backdated moves show in both organizations.
 */
export async function seedDemoUsage(ctx: Ctx, options: { months?: number; seed?: number } = {}): Promise<{ events: number }> {
  const months = options.months ?? 12;
  const seed = options.seed ?? 7;
  const random = prng(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const now = Date.now();
  const end = now - 60_000;
  const start = now - months * 30.4 * DAY;
  await allOrgs(ctx); // the organizations must be visible to the caller; usage follows the agents
  const agents = (await allAgents(ctx)).sort((a, b) => a.id.localeCompare(b.id));

  let pending: Record<string, unknown>[] = [];
  let stored = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const result = await usage.ingest({ ctx, input: { events: pending } });
    stored += result.accepted;
    pending = [];
  };

  for (const [index, agent] of agents.entries()) {
    const heavy = HEAVY_AGENTS.has(agent.name);
    const main = heavy ? pick(HEAVY_MODELS) : pick(MODELS);
    const second = heavy ? pick(HEAVY_MODELS) : pick(MODELS);
    const volume = 0.4 + random() * 2.6; // relative activity of this agent
    const chatty = random() < 0.5; // long conversations: many cache reads
    const reportsCost = random() < 0.2; // its runtime sends the provider's cost
    const usesUnpriced = index % 3 === 1;
    const from = Math.max(start, Date.parse(agent.created_at));
    const until = agent.status === "archived" ? Math.min(end, Date.parse(agent.updated_at)) : end;
    let n = 0;
    for (let day = Math.floor(from / DAY) * DAY; day < until; day += DAY) {
      const weekday = new Date(day).getUTCDay();
      const calls = Math.round(volume * (weekday === 0 || weekday === 6 ? 1 + random() * 2 : 3 + random() * 9));
      for (let c = 0; c < calls; c++) {
        const at = day + Math.floor(random() * DAY);
        if (at < from || at >= until) continue;
        const unpriced = usesUnpriced && at > end - 60 * DAY && random() < 0.15;
        const m = unpriced ? { model: DEMO_UNPRICED_MODEL, provider: "acme" } : random() < 0.75 ? main : second;
        const input = (400 + Math.floor(random() * random() * 40_000)) * (heavy ? 40 : 1);
        const output = 80 + Math.floor(random() * 3_000);
        const cacheRead = chatty ? Math.floor(random() * input * 3) : 0;
        const event: Record<string, unknown> = {
          id: `demo-${seed}-${agent.id.slice(0, 8)}-${n++}`,
          agent_id: agent.id,
          model: m.model,
          provider: m.provider,
          input_tokens: input,
          output_tokens: output,
          cache_read_tokens: cacheRead,
          occurred_at: new Date(at).toISOString(),
        };
        if (reportsCost && !unpriced && random() < 0.5) {
          // A provider-reported cost: whole micro-dollars, as runtimes usually send.
          event.cost_usd = `0.${String(Math.floor(random() * 90_000) + 1000).padStart(6, "0")}`;
        }
        pending.push(event);
        if (pending.length >= BATCH) await flush();
      }
    }
  }
  await flush();
  return { events: stored };
}
