/**
 * Insights (docs/guardrails.md, "Insights"): each agent's break-even token allowance for a month,
 * and what-if scenarios for a past month. Both contain token cost, so organization-bound callers get
 * none (403). Every figure is computed from the month's billing lines by the billing rules: exact
 * rationals, one half-even rounding per displayed figure.
 */
import { and, desc, eq, lte, sql } from "drizzle-orm";
import { modelPrices, usageMonthTotals } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import type { Ctx } from "../../context";
import { validationError } from "../../errors";
import { add, compare, dec, div, isZero, mul, type Ratio, round, sub, trimDecimal, ZERO } from "../../shared/money";
import { monthEnd, monthOf, monthStart } from "../../shared/time";
import { agentUsageCharge, buildLine, type Line, sumLines, type UsageTotals } from "../billing/lines";
import { type OrgMonth, orgMonth } from "../billing/service";
import { forReports } from "../reads/service";
import type { InsightsInput, WhatIfInput } from "./schema";

const MILLION = dec(1_000_000);
const HUNDRED = dec(100);

/** Rounds a non-negative-or-negative rational toward −∞ to a whole number. */
function floorInt(r: Ratio): number {
  const q = r.n / r.d;
  return Number(r.n < 0n && q * r.d !== r.n ? q - 1n : q);
}

const tokensOf = (u: UsageTotals | undefined) => (u ? u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens : 0);

/**
 * Cost and tokens of each agent's fully priced usage in the month (rollup keys without unpriced
 * events), the basis of its blended price: tokens still waiting for a price would dilute it.
 */
async function pricedUsage(ctx: Ctx, orgId: string, month: string) {
  const r = usageMonthTotals;
  const list = await ctx.db
    .select({
      agentId: sql<string>`${r.agentId}::text`,
      tokens: sql<string>`sum(${r.inputTokens} + ${r.outputTokens} + ${r.cacheReadTokens} + ${r.cacheWriteTokens})::text`,
      cost: sql<string>`sum(${r.costUsd})::text`,
    })
    .from(r)
    .where(and(eq(r.orgId, orgId), eq(r.month, `${month}-01`), eq(r.unpricedEvents, 0)))
    .groupBy(r.agentId);
  return new Map(list.map((row) => [row.agentId, { tokens: dec(row.tokens), cost: dec(row.cost) }]));
}

/**
 * Each agent's allowance for a month (default: the current one): the token cost it may incur
 * before its margin falls to `margin_floor_pct` (0: break-even), `(1 − floor ÷ 100) × projected
 * revenue` converted to USD at the month's FX, the share of it used so far, and the same allowance
 * in tokens at the agent's blended price so far (its priced cost ÷ its priced tokens).
 */
export async function allowances({ ctx, input }: { ctx: Ctx; input: InsightsInput }) {
  authorize(ctx.principal, "insights.read");
  ctx = await forReports(ctx);
  const now = new Date();
  const data = await orgMonth(ctx, input.id, input.month ?? monthOf(now), now);
  const floor = input.margin_floor_pct ?? "0";
  const keep = sub(dec(1), div(dec(floor), HUNDRED));
  const priced = await pricedUsage(ctx, data.org.id, data.month);
  const agents = data.lines.map((line) => {
    const usage = data.agents.get(line.agent_id)?.usage;
    const cost = dec(usage?.costUsd ?? "0");
    const allowance = mul(keep, dec(line.projected_revenue));
    const allowanceUsd = data.fx === null ? null : div(allowance, dec(data.fx));
    const remainingUsd = allowanceUsd === null ? null : sub(allowanceUsd, cost);
    const basis = priced.get(line.agent_id);
    const hasPrice = basis !== undefined && !isZero(basis.tokens) && !isZero(basis.cost);
    const tokensUsed = tokensOf(usage);
    // allowance ÷ (cost ÷ tokens): the tokens the allowance buys at the blended price.
    const allowanceTokens = hasPrice && allowanceUsd !== null ? floorInt(div(mul(allowanceUsd, basis.tokens), basis.cost)) : null;
    return {
      agent_id: line.agent_id,
      agent_name: line.agent_name,
      projected_revenue: line.projected_revenue,
      allowance: round(allowance, 2),
      allowance_usd: allowanceUsd === null ? null : round(allowanceUsd, 4),
      cost_usd: round(cost, 4),
      remaining_usd: remainingUsd === null ? null : round(remainingUsd, 4),
      share_used_pct: allowanceUsd === null || compare(allowanceUsd, ZERO) <= 0 ? null : round(mul(div(cost, allowanceUsd), HUNDRED), 1),
      tokens_used: tokensUsed,
      blended_price_per_m: hasPrice ? round(mul(div(basis.cost, basis.tokens), MILLION), 6) : null,
      allowance_tokens: allowanceTokens,
      remaining_tokens: allowanceTokens === null ? null : allowanceTokens - tokensUsed,
      unpriced_events: line.unpriced_events,
    };
  });
  return {
    organization_id: data.org.id,
    currency: data.org.currency,
    month: data.month,
    is_partial: data.isPartial,
    fx_rate: data.fx,
    margin_floor_pct: floor,
    agents,
  };
}

/** The price entry of `model` in effect on the month's last day, cache prices filled in from the input price. */
async function priceAt(ctx: Ctx, model: string, month: string) {
  const lastDay = new Date(monthEnd(month).getTime() - 86_400_000).toISOString().slice(0, 10);
  const p = modelPrices;
  const [row] = await ctx.db
    .select({
      effectiveFrom: p.effectiveFrom,
      input: sql<string>`${p.inputPerM}::text`,
      output: sql<string>`${p.outputPerM}::text`,
      cacheRead: sql<string | null>`${p.cacheReadPerM}::text`,
      cacheWrite: sql<string | null>`${p.cacheWritePerM}::text`,
    })
    .from(p)
    .where(and(eq(p.model, model), lte(p.effectiveFrom, lastDay)))
    .orderBy(desc(p.effectiveFrom))
    .limit(1);
  if (!row) throw validationError([{ path: "model", message: `has no price in effect in ${month}` }]);
  return { effectiveFrom: row.effectiveFrom, input: row.input, output: row.output, cacheRead: row.cacheRead ?? row.input, cacheWrite: row.cacheWrite ?? row.input };
}

type Price = Awaited<ReturnType<typeof priceAt>>;

/** `(input × p_in + output × p_out + cache_read × p_cr + cache_write × p_cw) ÷ 1e6`, exact (docs/billing.md). */
function priceTokens(u: UsageTotals, p: Price): Ratio {
  const parts = [
    mul(dec(u.inputTokens), dec(p.input)),
    mul(dec(u.outputTokens), dec(p.output)),
    mul(dec(u.cacheReadTokens), dec(p.cacheRead)),
    mul(dec(u.cacheWriteTokens), dec(p.cacheWrite)),
  ];
  return div(parts.reduce(add, ZERO), MILLION);
}

const figuresOf = (l: Pick<Line, "revenue" | "token_cost_usd" | "token_cost" | "margin" | "margin_pct">) => ({
  revenue: l.revenue,
  cost_usd: l.token_cost_usd,
  cost: l.token_cost,
  margin: l.margin,
  margin_pct: l.margin_pct,
});

/**
 * One agent's line recomputed under the scenario: same rules, same roundings, as `buildLine`. On
 * another model, an organization that bills usage is charged for the re-priced cost of that model.
 */
function scenarioLine(data: OrgMonth, line: Line, price: (Price & { model: string }) | null, rate: string | null): Line {
  const agent = data.agents.get(line.agent_id);
  // Prices have 12 decimals (db/schema/columns.ts), so tokens × price ÷ 1e6 has at most 18: exact.
  const usage: UsageTotals | undefined = agent?.usage && price ? { ...agent.usage, costUsd: round(priceTokens(agent.usage, price), 18) } : agent?.usage;
  let revenue = agent?.revenue;
  if (revenue && rate !== null) {
    const seconds = dec((monthEnd(data.month).getTime() - monthStart(data.month).getTime()) / 1000);
    const billed = div(mul(dec(rate), dec(revenue.billedSeconds)), seconds);
    revenue = { ...revenue, revenue: billed, projected: billed, rate, rateSource: "custom" };
  }
  const usageCharge = price && usage ? agentUsageCharge(new Map([[price.model, usage.costUsd]]), data.fx, data.markup) : line.usage_revenue;
  return buildLine({ month: data.month, agentId: line.agent_id, agentName: line.agent_name, revenue, usage, fx: data.fx, isPartial: false, fallbackRate: rate ?? "0", usageCharge });
}

/**
 * A past month of an organization under another model (its actual token mix re-priced at that
 * model's price in effect on the month's last day) and/or another rate per agent (every billed
 * second at that rate), beside the actual figures. Nothing is stored.
 */
export async function whatIf({ ctx, input }: { ctx: Ctx; input: WhatIfInput }) {
  authorize(ctx.principal, "insights.read");
  ctx = await forReports(ctx);
  const now = new Date();
  if (input.month >= monthOf(now)) throw validationError([{ path: "month", message: `must be a past month (before ${monthOf(now)})` }]);
  const data = await orgMonth(ctx, input.id, input.month, now);
  const price = input.model === undefined ? null : { ...(await priceAt(ctx, input.model, input.month)), model: input.model };
  const rate = input.rate ?? null;
  const pairs = data.lines.map((line) => ({ line, alt: scenarioLine(data, line, price, rate) }));
  const actual = sumLines(pairs.map((p) => p.line), 0, data.fx, false);
  const alt = sumLines(pairs.map((p) => p.alt), 0, data.fx, false);
  const monthFigures = (m: typeof actual) => ({ revenue: m.total_revenue, cost_usd: m.total_cost_usd, cost: m.total_cost, margin: m.margin, margin_pct: m.margin_pct });
  return {
    organization_id: data.org.id,
    currency: data.org.currency,
    month: data.month,
    fx_rate: data.fx,
    scenario: {
      model: input.model ?? null,
      rate,
      price:
        price === null
          ? null
          : { effective_from: price.effectiveFrom, input_per_m: trimDecimal(price.input), output_per_m: trimDecimal(price.output), cache_read_per_m: trimDecimal(price.cacheRead), cache_write_per_m: trimDecimal(price.cacheWrite) },
    },
    actual: monthFigures(actual),
    what_if: monthFigures(alt),
    agents: pairs.map(({ line, alt }) => {
      const usage = data.agents.get(line.agent_id)?.usage;
      return {
        agent_id: line.agent_id,
        agent_name: line.agent_name,
        billed_days: line.billed_days,
        input_tokens: usage?.inputTokens ?? 0,
        output_tokens: usage?.outputTokens ?? 0,
        cache_read_tokens: usage?.cacheReadTokens ?? 0,
        cache_write_tokens: usage?.cacheWriteTokens ?? 0,
        actual: { rate: line.rate, ...figuresOf(line) },
        what_if: { rate: alt.rate, ...figuresOf(alt) },
      };
    }),
  };
}

