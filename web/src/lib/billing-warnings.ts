import { formatMonth } from "./format";

interface MonthWarningInput {
  month: string;
  unpriced_events?: number;
  fx_rate?: string | null;
  total_cost_usd?: string;
}

/**
 * What the Billing tab warns about: usage that has no price yet (not in the cost) and months whose
 * cost could not be converted because the currency had no FX rate. Callers that do not see costs
 * receive neither field and get no warnings.
 */
export function billingWarnings(months: readonly MonthWarningInput[]): string[] {
  const out: string[] = [];
  const unpriced = months.reduce((n, m) => n + (m.unpriced_events ?? 0), 0);
  if (unpriced > 0) {
    out.push(`${unpriced} usage event${unpriced === 1 ? " has" : "s have"} no model price yet and ${unpriced === 1 ? "is" : "are"} not in the token cost. Add the model's price in Settings → Model prices.`);
  }
  const missingFx = months.filter((m) => m.total_cost_usd !== undefined && m.fx_rate === null).map((m) => formatMonth(m.month));
  if (missingFx.length > 0) {
    out.push(`No FX rate for ${missingFx.join(", ")}: token cost cannot be converted to this currency. Add a rate in Settings → FX rates.`);
  }
  return out;
}
