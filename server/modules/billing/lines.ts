/**
 * Billing lines and their sums (docs/billing.md), pure. Each agent-month line is rounded once, half-even:
 * revenue to 2 decimals, USD cost to 4, cost in the org currency to 2; a summary is the sum of the
 * rounded lines, so the figures a client sees always add up.
 */
import { add, dec, div, isZero, mul, type Ratio, round, sub, sum, trimDecimal, ZERO } from "../../shared/money";
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
  /** seat_revenue + usage_revenue (a missing usage charge counts as 0, as in the month figures). */
  revenue: string;
  /** Prorated monthly rates (docs/billing.md, "Revenue"). */
  seat_revenue: string;
  /** The agent's usage charges (per model, rounded per agent and model); "0.00" when usage is not billed, null when an FX rate is missing. */
  usage_revenue: string | null;
  /** Full-month seat revenue if nothing changes, plus the usage charges so far. */
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
  /** The agent's usage charge of the month (`agentUsageCharge`): "0.00" when usage is not billed, null when an FX rate is missing. */
  usageCharge: string | null;
}): Line {
  const usage = args.usage ?? NO_USAGE;
  const seat = args.revenue ? round(args.revenue.revenue, 2) : "0.00";
  const charge = args.usageCharge === null ? ZERO : dec(args.usageCharge);
  const revenue = add(dec(seat), charge);
  const projected = add(dec(args.revenue ? round(args.revenue.projected, 2) : "0.00"), charge);
  const costUsd = dec(usage.costUsd);
  const tokenCost = costInCurrency(costUsd, args.fx);
  const margin = tokenCost === null ? null : sub(revenue, dec(tokenCost));
  return {
    month: args.month,
    agent_id: args.agentId,
    agent_name: args.agentName,
    is_partial: args.isPartial,
    rate: round(dec(args.revenue?.rate ?? args.fallbackRate), 2),
    rate_source: args.revenue?.rateSource ?? "default",
    billed_days: Number(round(div(dec(args.revenue?.billedSeconds ?? 0), dec(86400)), 2)),
    revenue: round(revenue, 2),
    seat_revenue: seat,
    usage_revenue: args.usageCharge,
    projected_revenue: round(projected, 2),
    token_cost: tokenCost,
    token_cost_usd: round(costUsd, 4),
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_tokens: usage.cacheReadTokens + usage.cacheWriteTokens,
    unpriced_events: usage.unpriced,
    margin: margin === null ? null : round(margin, 2),
    margin_pct: margin === null ? null : marginPct(margin, revenue),
  };
}

export interface MonthFigures {
  is_partial: boolean;
  agent_count: number;
  /** Seat revenue + usage charges. */
  total_revenue: string;
  seat_revenue: string;
  /** Null when the organization bills usage and the month's FX rate is missing. */
  usage_revenue: string | null;
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

/**
 * Sums rounded lines into month (or range) figures. `fx` is the month's rate, or null for a range of
 * several rates. The usage revenue is the sum of the lines' per-agent charges; the billing summary
 * replaces it by the month's per-model charges (`chargedMonth`).
 */
export function sumLines(lines: Line[], agentCount: number, fx: string | null, isPartial: boolean): MonthFigures {
  const revenue = sumStrings(lines.map((l) => l.revenue));
  const usages = lines.map((l) => l.usage_revenue);
  const costs = lines.map((l) => l.token_cost);
  const cost = costs.some((c) => c === null) ? null : sumStrings(costs as string[]);
  const margin = cost === null ? null : sub(revenue, cost);
  return {
    is_partial: isPartial,
    agent_count: agentCount,
    total_revenue: round(revenue, 2),
    seat_revenue: round(sumStrings(lines.map((l) => l.seat_revenue)), 2),
    usage_revenue: usages.some((u) => u === null) ? null : round(sumStrings(usages as string[]), 2),
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
    seat_revenue: round(sumStrings(months.map((m) => m.seat_revenue)), 2),
    usage_revenue: months.some((m) => m.usage_revenue === null) ? null : round(sumStrings(months.map((m) => m.usage_revenue!)), 2),
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

/** One model's usage charge in a month, in the organization's currency. */
export interface UsageCharge {
  model: string;
  amount: string;
}

/**
 * The usage charges of a month at `markup` (docs/billing.md, "Usage charges"), one per model with
 * cost, each `cost_usd × fx × (1 + pct/100)` rounded once, half-even, to 2 decimals; none when
 * `markup` is null (usage not billed). Null when a model has cost but the month has no FX rate.
 * The one computation both invoices and the billing summary use, so they never disagree.
 */
export function usageCharges(costsByModel: Map<string, string> | undefined, fx: string | null, markup: string | null): UsageCharge[] | null {
  if (markup === null) return [];
  const factor = add(dec(1), mul(dec(markup), dec("0.01")));
  const out: UsageCharge[] = [];
  for (const [model, cost] of [...(costsByModel ?? new Map<string, string>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (isZero(dec(cost))) continue;
    if (fx === null) return null;
    out.push({ model, amount: round(mul(mul(dec(cost), dec(fx)), factor), 2) });
  }
  return out;
}

/**
 * One agent's usage charge of a month: its own usage charges per model (`usageCharges` over the
 * agent's cost per model), summed. The month's charge rounds each model's total over the
 * organization instead, so the agents' charges of a month may differ from it by a few minor units
 * (docs/billing.md, "Usage charges per agent"). "0.00" when usage is not billed; null when an FX
 * rate is missing.
 */
export function agentUsageCharge(costsByModel: Map<string, string> | undefined, fx: string | null, markup: string | null): string | null {
  const charges = usageCharges(costsByModel, fx, markup);
  return charges === null ? null : round(sum(charges.map((c) => dec(c.amount))), 2);
}

/** A closed month's finalized invoice, as the billing summary reports it. */
export interface ClosedMonth {
  number: string;
  /** The sum of its seat lines. */
  seat: string;
  /** The sum of its usage lines (its adjustment lines belong to earlier months, not to this one). */
  usage: string;
}

/**
 * A month's figures with its revenue as billed (docs/billing.md, "The billing summary of a closed
 * month"): an open month adds its usage charges to the seat revenue; a closed month reports what
 * its invoice billed for it (its seat and usage lines) against the cost as now known.
 */
export function chargedMonth<M extends MonthFigures>(m: M, charges: UsageCharge[] | null, closed: ClosedMonth | null): M & { is_closed: boolean; invoice_number: string | null } {
  let seat: Ratio;
  let usage: Ratio | null;
  let projected: Ratio;
  if (closed) {
    seat = dec(closed.seat);
    usage = dec(closed.usage);
    projected = add(seat, usage);
  } else {
    seat = dec(m.seat_revenue);
    usage = charges === null ? null : sum(charges.map((c) => dec(c.amount)));
    // The lines' projection holds their per-agent usage charges: take them out, put the month's in.
    const seatProjected = sub(dec(m.projected_revenue), dec(m.usage_revenue ?? "0"));
    projected = add(seatProjected, usage ?? ZERO);
  }
  const revenue = add(seat, usage ?? dec(0));
  const margin = m.total_cost === null ? null : sub(revenue, dec(m.total_cost));
  return {
    ...m,
    total_revenue: round(revenue, 2),
    seat_revenue: round(seat, 2),
    usage_revenue: usage === null ? null : round(usage, 2),
    projected_revenue: round(projected, 2),
    margin: margin === null ? null : round(margin, 2),
    margin_pct: margin === null ? null : marginPct(margin, revenue),
    is_closed: closed !== null,
    invoice_number: closed?.number ?? null,
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
