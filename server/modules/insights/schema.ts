import { z } from "zod";
import { DECIMAL_STRING_MAX, moneyInput, moneyOutput, orgRef } from "../../shared/fields";
import { parseDecimalInput } from "../../shared/money";
import { monthInput } from "../billing/schema";
import { modelName } from "../usage/schema";

/** A margin floor in percent: 0–100, at most one decimal (a JSON number, or a string in a query). */
const floorPct = z
  .union([z.number(), z.string().max(DECIMAL_STRING_MAX, `must be at most ${DECIMAL_STRING_MAX} characters`)], { error: "must be a percentage like 20 or 12.5" })
  .transform((value, ctx) => {
    const parsed = parseDecimalInput(value, 1, 3);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }
    if (Number(parsed.value) > 100) {
      ctx.addIssue({ code: "custom", message: "must be at most 100" });
      return z.NEVER;
    }
    return parsed.value;
  })
  .meta({ description: "Margin floor in percent (0–100, one decimal at most); the allowance keeps the margin at this floor. Default 0: break-even." });

export const insightsFields = z.object({
  month: monthInput.optional().meta({ description: "Calendar month in UTC, YYYY-MM (default: the current one)" }),
  margin_floor_pct: floorPct.optional(),
});
export const insightsInput = insightsFields.extend({ id: orgRef });

const whatIfShape = {
  month: monthInput.meta({ description: "A past calendar month in UTC, YYYY-MM" }),
  model: modelName.optional().meta({ description: "Re-price the month's actual tokens at this model's price (the entry in effect on the month's last day)" }),
  rate: moneyInput.optional().meta({ description: "Bill every agent's billed time at this monthly rate per agent, in the organization's currency" }),
};
const needsScenario = (v: { model?: string; rate?: string }, ctx: z.RefinementCtx) => {
  if (v.model === undefined && v.rate === undefined) ctx.addIssue({ code: "custom", path: ["model"], message: "give a model, a rate, or both" });
};
export const whatIfFields = z.strictObject(whatIfShape).superRefine(needsScenario);
export const whatIfInput = z.strictObject({ id: orgRef, ...whatIfShape }).superRefine(needsScenario);

const usd4 = (description: string) => z.string().meta({ description: `${description} USD, 4 decimals.` });
const nullableUsd4 = (description: string) => z.string().nullable().meta({ description: `${description} USD, 4 decimals; null when the month has no FX rate.` });

export const agentAllowanceOutput = z.object({
  agent_id: z.string(),
  agent_name: z.string(),
  projected_revenue: moneyOutput.meta({ description: "The full month's revenue if nothing changes, organization currency" }),
  allowance: moneyOutput.meta({ description: "(1 − floor ÷ 100) × projected_revenue, organization currency, 2 decimals" }),
  allowance_usd: nullableUsd4("The token cost the agent may incur this month before its margin reaches the floor:"),
  cost_usd: usd4("Token cost so far this month,"),
  remaining_usd: nullableUsd4("allowance_usd − cost_usd (negative when over),"),
  share_used_pct: z.string().nullable().meta({ description: "cost_usd ÷ allowance_usd × 100, one decimal; null when the allowance is 0 or unknown" }),
  tokens_used: z.number().int().meta({ description: "Input, output, cache-read and cache-write tokens so far this month" }),
  blended_price_per_m: z.string().nullable().meta({ description: "USD per 1M tokens over the agent's priced usage this month, 6 decimals; null without priced usage" }),
  allowance_tokens: z.number().int().nullable().meta({ description: "allowance_usd at the blended price, whole tokens (rounded down); null without a blended price" }),
  remaining_tokens: z.number().int().nullable().meta({ description: "allowance_tokens − tokens_used (negative when over)" }),
  unpriced_events: z.number().int().meta({ description: "Events without a price yet (not in cost_usd)" }),
});

export const insightsOutput = z.object({
  organization_id: z.string(),
  currency: z.string(),
  month: z.string(),
  is_partial: z.boolean(),
  fx_rate: z.string().nullable().meta({ description: "Units of the organization's currency per 1 USD for the month; null when missing" }),
  margin_floor_pct: z.string().meta({ description: "The floor the allowances keep the margin at (0 = break-even)" }),
  agents: z.array(agentAllowanceOutput),
});

const figures = z.object({
  revenue: moneyOutput,
  cost_usd: usd4("Token cost,"),
  cost: moneyOutput.nullable().meta({ description: "Token cost in the organization's currency, 2 decimals; null without an FX rate" }),
  margin: moneyOutput.nullable(),
  margin_pct: z.string().nullable().meta({ description: "Margin ÷ revenue × 100, one decimal; null when revenue is 0" }),
});

export const whatIfOutput = z.object({
  organization_id: z.string(),
  currency: z.string(),
  month: z.string(),
  fx_rate: z.string().nullable(),
  scenario: z.object({
    model: z.string().nullable(),
    rate: moneyOutput.nullable(),
    price: z
      .object({ effective_from: z.string(), input_per_m: z.string(), output_per_m: z.string(), cache_read_per_m: z.string(), cache_write_per_m: z.string() })
      .nullable()
      .meta({ description: "The model price used (USD per 1M tokens; cache prices fall back to the input price)" }),
  }),
  actual: figures,
  what_if: figures,
  agents: z.array(
    z.object({
      agent_id: z.string(),
      agent_name: z.string(),
      billed_days: z.number(),
      input_tokens: z.number().int(),
      output_tokens: z.number().int(),
      cache_read_tokens: z.number().int(),
      cache_write_tokens: z.number().int(),
      actual: figures.extend({ rate: moneyOutput }),
      what_if: figures.extend({ rate: moneyOutput }),
    }),
  ),
});

export type InsightsInput = z.infer<typeof insightsInput>;
export type WhatIfInput = z.infer<typeof whatIfInput>;
