import { z } from "zod";
import { moneyOutput, orgRef } from "../../shared/fields";
import { MONTH_PATTERN } from "../../shared/time";

export const monthInput = z
  .string({ error: "must be a month like 2026-03" })
  .max(7, { error: "must be a month like 2026-03 (YYYY-MM)", abort: true })
  .regex(MONTH_PATTERN, "must be a month like 2026-03 (YYYY-MM)")
  .meta({ description: "Calendar month in UTC, YYYY-MM", examples: ["2026-03"] });

/** How many months back from the current one (inclusive); a query string or a number. */
const monthsCount = z.coerce
  .number({ error: "must be a whole number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(120, "must be at most 120")
  .meta({ description: "The last N months, the current one included (1–120)" });

const rangeShape = { from: monthInput.optional(), to: monthInput.optional(), months: monthsCount.optional() };

/** Checks of a month range that need no clock: `months` excludes from/to, and from ≤ to. */
function rangeChecks<T extends z.ZodObject<typeof rangeShape & z.ZodRawShape>>(schema: T) {
  return schema.superRefine((v: { from?: string; to?: string; months?: number }, ctx) => {
    if (v.months !== undefined && (v.from !== undefined || v.to !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["months"], message: "cannot be combined with from/to" });
    }
    if (v.from !== undefined && v.to !== undefined && v.from > v.to) {
      ctx.addIssue({ code: "custom", path: ["from"], message: "must not be after to" });
    }
  });
}

/** A month range: `from`/`to` (default: the last 12 months) or `months=N`; checked against today in the service. */
export const billingRangeFields = rangeChecks(z.object(rangeShape));
export const billingRangeInput = rangeChecks(z.object({ ...rangeShape, id: orgRef }));

export const exportFormat = z.enum(["csv", "json"], { error: "must be csv or json" });
export const billingExportFields = rangeChecks(z.object({ ...rangeShape, format: exportFormat.default("csv") }));
export const billingExportInput = rangeChecks(z.object({ ...rangeShape, id: orgRef, format: exportFormat.default("csv") }));

export const overviewInput = z.object({ month: monthInput.optional() });

// Output. Fields about token cost and margin are absent (not null) for callers bound to one
// organization: they see what the organization is charged, never what it costs (docs/security.md, "Tenancy").
const costOnly = <T extends z.ZodType>(schema: T, description: string) =>
  schema.optional().meta({ description: `${description} Absent for organization-bound callers.` });

const decimalOrNull = moneyOutput.nullable();

export const monthFiguresShape = {
  is_partial: z.boolean().meta({ description: "The current month: revenue counts up to now" }),
  agent_count: z.number().int().meta({ description: "Agents with billed time or usage in the period" }),
  total_revenue: moneyOutput.meta({ description: "seat_revenue + usage_revenue; for a closed month, what its finalized invoice billed for it" }),
  seat_revenue: moneyOutput.meta({ description: "Revenue from agent seats (prorated monthly rates); for a closed month, its invoice's seat lines" }),
  usage_revenue: moneyOutput
    .nullable()
    .meta({ description: "Usage charges (per model, cost × FX × (1 + markup %), 2 decimals); \"0.00\" when the organization does not bill usage; null when an FX rate is missing; for a closed month, its invoice's usage lines" }),
  projected_revenue: moneyOutput.meta({ description: "The full month's revenue if nothing changes, usage charges so far included (equals total_revenue for past months)" }),
  total_cost: costOnly(decimalOrNull, "Token cost in the organization's currency, 2 decimals; null when an FX rate is missing."),
  total_cost_usd: costOnly(moneyOutput, "Token cost in USD, 4 decimals."),
  fx_rate: costOnly(z.string().nullable(), "Units of the organization's currency per 1 USD used for the month; null when missing (or mixed, in totals)."),
  margin: costOnly(decimalOrNull, "Revenue − token cost, organization currency."),
  margin_pct: costOnly(z.string().nullable(), "Margin ÷ revenue × 100, one decimal; null when revenue is 0."),
  total_input_tokens: z.number().int(),
  total_output_tokens: z.number().int(),
  total_cache_tokens: z.number().int().meta({ description: "Cache-read plus cache-write tokens" }),
  unpriced_events: costOnly(z.number().int(), "Events whose model has no price yet (not in the cost)."),
};

const closedShape = {
  is_closed: z.boolean().meta({ description: "The month has a finalized invoice: revenue is as invoiced, cost as now known" }),
  invoice_number: z.string().nullable().meta({ description: "The finalized invoice's number; null for an open month" }),
};

export const monthOutput = z.object({ month: z.string(), ...monthFiguresShape, ...closedShape });
export const totalsOutput = z.object(monthFiguresShape);

export const billingSummaryOutput = z.object({
  organization_id: z.string(),
  currency: z.string(),
  from: z.string(),
  to: z.string(),
  summary: z.array(monthOutput),
  totals: totalsOutput,
});

export const agentMonthOutput = z.object({
  month: z.string(),
  agent_id: z.string(),
  agent_name: z.string(),
  is_partial: z.boolean(),
  rate: moneyOutput.meta({ description: "Monthly rate in effect at the end of the agent's last billed part of the month" }),
  rate_source: z.enum(["custom", "default"]),
  billed_days: z.number().meta({ description: "Days billed (assigned, organization active, agent not archived), 2 decimals" }),
  revenue: moneyOutput.meta({ description: "seat_revenue + usage_revenue (a missing usage charge counts as 0)" }),
  seat_revenue: moneyOutput.meta({ description: "Prorated monthly rates, rounded once per line (what the invoice's seat line bills)" }),
  usage_revenue: decimalOrNull.meta({
    description:
      "The agent's usage charges: per model, cost × FX × (1 + markup/100) rounded once per agent and model; \"0.00\" when usage is not billed, null when the month's FX rate is missing. The month's usage_revenue rounds per model over the organization, so the agents' sum may differ from it by a few minor units (docs/billing.md)",
  }),
  projected_revenue: moneyOutput.meta({ description: "Full-month seat revenue if nothing changes, plus the usage charges so far" }),
  token_cost: costOnly(decimalOrNull, "Token cost in the organization's currency, 2 decimals."),
  token_cost_usd: costOnly(moneyOutput, "Token cost in USD, 4 decimals."),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cache_tokens: z.number().int(),
  unpriced_events: costOnly(z.number().int(), "Events without a price."),
  margin: costOnly(decimalOrNull, "Revenue − token cost."),
  margin_pct: costOnly(z.string().nullable(), "One decimal; null when revenue is 0."),
});

export const billingRecordsOutput = z.object({
  organization_id: z.string(),
  currency: z.string(),
  from: z.string(),
  to: z.string(),
  records: z.array(agentMonthOutput),
});

export const billingExportOutput = z.object({
  filename: z.string(),
  content_type: z.string(),
  content: z.string(),
});

export const overviewOrgOutput = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  currency: z.string(),
  is_active: z.boolean(),
  is_internal: z.boolean(),
  is_deleted: z.boolean(),
  ...monthFiguresShape,
  ...closedShape,
  revenue_usd: costOnly(decimalOrNull, "Revenue converted to USD at the month's FX rate."),
  margin_usd: costOnly(decimalOrNull, "revenue_usd − total_cost_usd (2 decimals)."),
});

export const overviewOutput = z.object({
  month: z.string(),
  is_partial: z.boolean(),
  organizations: z.array(overviewOrgOutput),
  totals: z.object({
    organizations: z.number().int(),
    agent_count: z.number().int(),
    revenue_usd: costOnly(moneyOutput, "Sum of revenue_usd."),
    projected_revenue_usd: costOnly(moneyOutput, "Sum of projected revenue in USD."),
    cost_usd: costOnly(moneyOutput, "Sum of total_cost_usd, 4 decimals."),
    margin_usd: costOnly(moneyOutput, "revenue_usd − cost_usd, 2 decimals."),
    margin_pct: costOnly(z.string().nullable(), "One decimal; null when revenue is 0."),
    unpriced_events: costOnly(z.number().int(), "Events without a price."),
    missing_fx: costOnly(z.array(z.string()), "Currencies without an FX rate for the month (their organizations are left out of the USD totals)."),
  }),
});

export type MonthOutput = z.infer<typeof monthOutput>;
export type AgentMonthOutput = z.infer<typeof agentMonthOutput>;
export type BillingRange = { from?: string; to?: string; months?: number };
