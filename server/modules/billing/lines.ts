/**
 * Billing lines and their sums (docs/billing.md), pure. Each agent-month line is rounded once, half-even:
 * revenue to 2 decimals, USD cost to 4, cost in the org currency to 2; a summary is the sum of the
 * rounded lines, so the figures a client sees always add up.
 */
import { dec, div, isZero, mul, type Ratio, round, sub, sum, trimDecimal } from "../../shared/money";
import type { AgentMonthRevenue } from "./proration";

export interface UsageTotals {
  events: number;
  unpriced: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Exact USD decimal string. */
  costUsd: string;
}

export const NO_USAGE: UsageTotals = { events: 0, unpriced: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: "0" };

/** One agent in one organization in one month, with every cost field (callers hide them as policy says). */
export interface Line {
  month: string;
  agent_id: string;
  agent_name: string;
  is_partial: boolean;
  rate: string;
  rate_source: "custom" | "default";
  billed_days: number;
  revenue: string;
  projected_revenue: string;
  token_cost: string | null;
  token_cost_usd: string;
  input_tokens: number;
  output_tokens: number;
  cache_tokens: number;
  unpriced_events: number;
  margin: string | null;
  margin_pct: string | null;
}

/** Margin % = margin ÷ revenue × 100, one decimal half-even; null when revenue is 0 (docs/billing.md, "Margin"). */
export function marginPct(margin: Ratio, revenue: Ratio): string | null {
  if (isZero(revenue)) return null;
  return round(mul(div(margin, revenue), dec(100)), 1);
}

/** Cost in the org currency: USD cost × FX, 2 decimals; null when a needed FX rate is missing. */
export function costInCurrency(costUsd: Ratio, fx: string | null): string | null {
  if (fx === null) return isZero(costUsd) ? "0.00" : null;
  return round(mul(costUsd, dec(fx)), 2);
}

export function buildLine(args: {
  month: string;
  agentId: string;
  agentName: string;
  revenue: AgentMonthRevenue | undefined;
  usage: UsageTotals | undefined;
  fx: string | null;
  isPartial: boolean;
  /** Rate to show when the agent has usage but no assigned time in the month (not expected; defensive). */
  fallbackRate: string;
}): Line {
  const usage = args.usage ?? NO_USAGE;
  const revenue = args.revenue ? round(args.revenue.revenue, 2) : "0.00";
  const projected = args.revenue ? round(args.revenue.projected, 2) : "0.00";
  const costUsd = dec(usage.costUsd);
  const tokenCost = costInCurrency(costUsd, args.fx);
  const margin = tokenCost === null ? null : sub(dec(revenue), dec(tokenCost));
  return {
    month: args.month,
    agent_id: args.agentId,
    agent_name: args.agentName,
    is_partial: args.isPartial,
    rate: round(dec(args.revenue?.rate ?? args.fallbackRate), 2),
    rate_source: args.revenue?.rateSource ?? "default",
    billed_days: Number(round(div(dec(args.revenue?.billedSeconds ?? 0), dec(86400)), 2)),
    revenue,
    projected_revenue: projected,
    token_cost: tokenCost,
    token_cost_usd: round(costUsd, 4),
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_tokens: usage.cacheReadTokens + usage.cacheWriteTokens,
    unpriced_events: usage.unpriced,
    margin: margin === null ? null : round(margin, 2),
    margin_pct: margin === null ? null : marginPct(margin, dec(revenue)),
  };
}

export interface MonthFigures {
  is_partial: boolean;
  agent_count: number;
  total_revenue: string;
  projected_revenue: string;
  total_cost: string | null;
  total_cost_usd: string;
  fx_rate: string | null;
  margin: string | null;
  margin_pct: string | null;
  total_input_tokens: number;
  total_output_tokens: number;
  total_cache_tokens: number;
  unpriced_events: number;
}

const sumStrings = (values: string[]) => sum(values.map((v) => dec(v)));

/** Sums rounded lines into month (or range) figures. `fx` is the month's rate, or null for a range of several rates. */
export function sumLines(lines: Line[], agentCount: number, fx: string | null, isPartial: boolean): MonthFigures {
  const revenue = sumStrings(lines.map((l) => l.revenue));
  const costs = lines.map((l) => l.token_cost);
  const cost = costs.some((c) => c === null) ? null : sumStrings(costs as string[]);
  const margin = cost === null ? null : sub(revenue, cost);
  return {
    is_partial: isPartial,
    agent_count: agentCount,
    total_revenue: round(revenue, 2),
    projected_revenue: round(sumStrings(lines.map((l) => l.projected_revenue)), 2),
    total_cost: cost === null ? null : round(cost, 2),
    total_cost_usd: round(sumStrings(lines.map((l) => l.token_cost_usd)), 4),
    fx_rate: fx,
    margin: margin === null ? null : round(margin, 2),
    margin_pct: margin === null ? null : marginPct(margin, revenue),
    total_input_tokens: lines.reduce((n, l) => n + l.input_tokens, 0),
    total_output_tokens: lines.reduce((n, l) => n + l.output_tokens, 0),
    total_cache_tokens: lines.reduce((n, l) => n + l.cache_tokens, 0),
    unpriced_events: lines.reduce((n, l) => n + l.unpriced_events, 0),
  };
}

/** Sums month figures into range totals (the same rounded numbers, added). */
export function sumMonths(months: MonthFigures[], agentCount: number): MonthFigures {
  const costs = months.map((m) => m.total_cost);
  const revenue = sumStrings(months.map((m) => m.total_revenue));
  const cost = costs.some((c) => c === null) ? null : sumStrings(costs as string[]);
  const margin = cost === null ? null : sub(revenue, cost);
  const rates = new Set(months.map((m) => m.fx_rate));
  return {
    is_partial: months.some((m) => m.is_partial),
    agent_count: agentCount,
    total_revenue: round(revenue, 2),
    projected_revenue: round(sumStrings(months.map((m) => m.projected_revenue)), 2),
    total_cost: cost === null ? null : round(cost, 2),
    total_cost_usd: round(sumStrings(months.map((m) => m.total_cost_usd)), 4),
    fx_rate: rates.size === 1 ? (months[0]?.fx_rate ?? null) : null,
    margin: margin === null ? null : round(margin, 2),
    margin_pct: margin === null ? null : marginPct(margin, revenue),
    total_input_tokens: months.reduce((n, m) => n + m.total_input_tokens, 0),
    total_output_tokens: months.reduce((n, m) => n + m.total_output_tokens, 0),
    total_cache_tokens: months.reduce((n, m) => n + m.total_cache_tokens, 0),
    unpriced_events: months.reduce((n, m) => n + m.unpriced_events, 0),
  };
}

/** Converts an org-currency amount to USD at `fx` (units per USD), 2 decimals; null without a rate. */
export function toUsd(amount: string, fx: string | null): string | null {
  if (fx === null) return isZero(dec(amount)) ? "0.00" : null;
  return round(div(dec(amount), dec(fx)), 2);
}

/** The FX rate for a month: the latest entry effective before the month's end; USD is 1. */
export function fxForMonth(currency: string, monthEndDay: string, rates: { effectiveFrom: string; rate: string }[]): string | null {
  if (currency === "USD") return "1";
  let best: { effectiveFrom: string; rate: string } | undefined;
  for (const r of rates) if (r.effectiveFrom < monthEndDay && (!best || r.effectiveFrom > best.effectiveFrom)) best = r;
  return best ? trimDecimal(best.rate) : null;
}

// ---------------------------------------------------------------------------------------------
// CSV

const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field (RFC 4180); text that a spreadsheet would run as a formula is prefixed with `'`. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (typeof value === "string" && FORMULA_START.test(s) && !/^-?\d/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(columns: readonly string[], records: Record<string, unknown>[]): string {
  const lines = [columns.join(",")];
  for (const r of records) lines.push(columns.map((c) => csvField(r[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
