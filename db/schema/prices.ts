import { sql } from "drizzle-orm";
import { check, date, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { fine, id, instant } from "./columns";
import { CURRENCIES } from "./formats";

/**
 * Model list prices, each effective from a UTC date until the next entry of the same model.
 * An event is priced with the entry in effect on the day it occurred.
 */
export const modelPrices = pgTable(
  "model_prices",
  {
    id: id(),
    /** Model name as events send it, lower-case (e.g. `gpt-4o`, `claude-sonnet-4`). */
    model: text("model").notNull(),
    /** Informational: `openai`, `anthropic`, `google`, … */
    provider: text("provider"),
    /** First UTC day this price applies (inclusive). */
    effectiveFrom: date("effective_from", { mode: "string" }).notNull(),
    /** USD per 1M input tokens. */
    inputPerM: fine("input_per_m").notNull(),
    /** USD per 1M output tokens. */
    outputPerM: fine("output_per_m").notNull(),
    /** USD per 1M cache-read tokens; null = the input price. */
    cacheReadPerM: fine("cache_read_per_m"),
    /** USD per 1M cache-write tokens; null = the input price. */
    cacheWritePerM: fine("cache_write_per_m"),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("model_prices_model_from_key").on(t.model, t.effectiveFrom),
    check(
      "model_prices_non_negative_check",
      sql`${t.inputPerM} >= 0 and ${t.outputPerM} >= 0 and coalesce(${t.cacheReadPerM}, 0) >= 0 and coalesce(${t.cacheWritePerM}, 0) >= 0`,
    ),
    check("model_prices_model_check", sql`${t.model} = lower(${t.model}) and length(${t.model}) between 1 and 128`),
  ],
);

/** Currencies with an FX rate: all but USD, which is 1 by definition. */
const FX_CURRENCIES = CURRENCIES.filter((c) => c !== "USD");

/**
 * Exchange rates: units of `currency` per 1 USD, effective from a UTC date. USD is always 1 and
 * never stored. A month uses the latest rate effective before its end (docs/billing.md, FX).
 */
export const fxRates = pgTable(
  "fx_rates",
  {
    id: id(),
    currency: text("currency").notNull(),
    /** First UTC day this rate applies (inclusive). */
    effectiveFrom: date("effective_from", { mode: "string" }).notNull(),
    /** Units of `currency` per 1 USD. */
    rate: fine("rate").notNull(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("fx_rates_currency_from_key").on(t.currency, t.effectiveFrom),
    check("fx_rates_rate_check", sql`${t.rate} > 0`),
    check("fx_rates_currency_check", sql`${t.currency} in (${sql.raw(FX_CURRENCIES.map((c) => `'${c}'`).join(", "))})`),
  ],
);
