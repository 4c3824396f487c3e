import { z } from "zod";
import { CURRENCIES, DECIMAL_STRING_MAX, instantOutput } from "../../shared/fields";
import { parseDecimalInput } from "../../shared/money";
import { dayInput, modelName } from "../usage/schema";

/** A price or rate input: decimal string or JSON number, ≥ 0, at most 12 decimals (stored exactly). */
const decimal12 = (description: string, maxIntegerDigits = 6) =>
  z
    .union([z.number(), z.string().max(DECIMAL_STRING_MAX, `must be at most ${DECIMAL_STRING_MAX} characters`)], { error: "must be a decimal number" })
    .transform((value, ctx) => {
      const parsed = parseDecimalInput(value, 12, maxIntegerDigits);
      if (!parsed.ok) {
        ctx.addIssue({ code: "custom", message: parsed.message });
        return z.NEVER;
      }
      return parsed.value;
    })
    .meta({ description, examples: ["2.50"] });

export const priceEntryInput = z.strictObject({
  model: modelName,
  provider: z
    .string({ error: "must be a string" })
    .trim()
    .max(64, "must be at most 64 characters")
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), "must not contain control characters")
    .nullable()
    .optional(),
  effective_from: dayInput.meta({ description: "First UTC day the price applies" }),
  input_per_m: decimal12("USD per 1M input tokens"),
  output_per_m: decimal12("USD per 1M output tokens"),
  cache_read_per_m: decimal12("USD per 1M cache-read tokens; null = the input price").nullable().optional(),
  cache_write_per_m: decimal12("USD per 1M cache-write tokens; null = the input price").nullable().optional(),
});

/** Adds or replaces price entries, keyed by model and effective date. */
export const pricesPutInput = z
  .strictObject({ prices: z.array(priceEntryInput, { error: "must be an array of prices" }).min(1, "must not be empty").max(500, "must have at most 500 entries") })
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.prices.forEach((p, i) => {
      const key = `${p.model}|${p.effective_from}`;
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["prices", i], message: `repeats ${p.model} effective ${p.effective_from}` });
      seen.add(key);
    });
  });

export const priceOutput = z.object({
  model: z.string(),
  provider: z.string().nullable(),
  effective_from: z.string(),
  input_per_m: z.string().meta({ description: "USD per 1M input tokens" }),
  output_per_m: z.string().meta({ description: "USD per 1M output tokens" }),
  cache_read_per_m: z.string().nullable().meta({ description: "USD per 1M cache-read tokens; null = the input price" }),
  cache_write_per_m: z.string().nullable().meta({ description: "USD per 1M cache-write tokens; null = the input price" }),
  is_current: z.boolean().meta({ description: "The entry in effect today for its model" }),
  updated_at: instantOutput,
});

export const pricesListOutput = z.object({ prices: z.array(priceOutput) });
export const pricesPutOutput = pricesListOutput.extend({
  priced: z.number().int().meta({ description: "Previously unpriced events that the new prices priced" }),
});

const FX_CURRENCIES = CURRENCIES.filter((c) => c !== "USD") as [string, ...string[]];

export const fxEntryInput = z.strictObject({
  currency: z.enum(FX_CURRENCIES, { error: `must be one of ${FX_CURRENCIES.join(", ")} (USD is always 1)` }),
  effective_from: dayInput.meta({ description: "First UTC day the rate applies" }),
  rate: decimal12("Units of the currency per 1 USD", 12).refine((v) => /[1-9]/.test(v), "must be greater than 0"),
});

export const fxPutInput = z
  .strictObject({ rates: z.array(fxEntryInput, { error: "must be an array of rates" }).min(1, "must not be empty").max(500, "must have at most 500 entries") })
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.rates.forEach((r, i) => {
      const key = `${r.currency}|${r.effective_from}`;
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["rates", i], message: `repeats ${r.currency} effective ${r.effective_from}` });
      seen.add(key);
    });
  });

export const fxOutput = z.object({
  currency: z.string(),
  effective_from: z.string(),
  rate: z.string().meta({ description: "Units of the currency per 1 USD" }),
  is_current: z.boolean(),
  updated_at: instantOutput,
});

export const fxListOutput = z.object({ base: z.literal("USD"), rates: z.array(fxOutput) });
