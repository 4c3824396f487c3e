import { sql } from "drizzle-orm";
import { bigint, boolean, check, date, index, numeric, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { agents } from "./agents";
import { fine, id, instant } from "./columns";
import { organizations } from "./orgs";

/**
 * Exact USD amount of token cost. A price has 12 decimals per 1M tokens, so one event's priced cost
 * (integer tokens × price ÷ 10^6) needs 18 decimals to be stored without rounding (SPEC §2: costs
 * are never rounded per event). Read as a decimal string.
 */
export const usd = (name: string) => numeric(name, { precision: 38, scale: 18 });

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

/**
 * Exchange rates: units of `currency` per 1 USD, effective from a UTC date. USD is always 1 and
 * never stored. A month uses the latest rate effective before its end (SPEC §1).
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
    check("fx_rates_currency_check", sql`${t.currency} in ('EUR', 'GBP', 'NGN', 'CAD', 'AUD')`),
  ],
);

/**
 * Raw usage events (one LLM call or a batch of calls), idempotent by the client's id. The
 * organization is the agent's at `occurred_at`, fixed at ingestion. `cost_usd` null = unpriced.
 */
export const usageEvents = pgTable(
  "usage_events",
  {
    /** Client idempotency key, ≤ 128 characters. */
    id: text("id").primaryKey(),
    agentId: uuid("agent_id").notNull().references(() => agents.id),
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    model: text("model").notNull(),
    provider: text("provider"),
    /** Token counts (tokens). */
    inputTokens: bigint("input_tokens", { mode: "number" }).notNull(),
    outputTokens: bigint("output_tokens", { mode: "number" }).notNull(),
    cacheReadTokens: bigint("cache_read_tokens", { mode: "number" }).notNull().default(0),
    cacheWriteTokens: bigint("cache_write_tokens", { mode: "number" }).notNull().default(0),
    /** USD, exact; null while the model has no price. */
    costUsd: usd("cost_usd"),
    /** The event carried its own cost (kept by re-pricing). */
    costFromEvent: boolean("cost_from_event").notNull(),
    occurredAt: instant("occurred_at").notNull(),
    receivedAt: instant("received_at").notNull().defaultNow(),
    /** SHA-256 of the content as sent: a re-send with the same id must match it. */
    contentHash: text("content_hash").notNull(),
  },
  (t) => [
    // Events arrive roughly in time order: a BRIN index serves re-pricing's time ranges at a fraction
    // of a B-tree's insertion cost. Nothing reads raw events by organization (reports read rollups).
    index("usage_events_time_brin").using("brin", t.occurredAt),
    index("usage_events_unpriced_idx").on(t.model, t.occurredAt).where(sql`${t.costUsd} is null`),
    check("usage_events_id_check", sql`length(${t.id}) between 1 and 128`),
    check(
      "usage_events_tokens_check",
      sql`${t.inputTokens} >= 0 and ${t.outputTokens} >= 0 and ${t.cacheReadTokens} >= 0 and ${t.cacheWriteTokens} >= 0`,
    ),
    check("usage_events_cost_check", sql`${t.costUsd} is null or ${t.costUsd} >= 0`),
    check("usage_events_cost_source_check", sql`not ${t.costFromEvent} or ${t.costUsd} is not null`),
  ],
);

/**
 * Usage per organization, agent, model and UTC calendar month, maintained in the same transaction as
 * every write to usage_events, so summaries never scan raw events and both always sum to the same
 * totals. Billing needs nothing finer than a month, and a month key keeps the rows an organization's
 * summary reads independent of the volume of events (docs/benchmarks.md, B3).
 */
export const usageMonthRollups = pgTable(
  "usage_month_rollups",
  {
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    agentId: uuid("agent_id").notNull().references(() => agents.id),
    model: text("model").notNull(),
    /** First UTC day of the month of `occurred_at`. */
    month: date("month", { mode: "string" }).notNull(),
    events: bigint("events", { mode: "number" }).notNull(),
    /** Events of this key still without a cost. */
    unpricedEvents: bigint("unpriced_events", { mode: "number" }).notNull(),
    /** Token sums (tokens). */
    inputTokens: bigint("input_tokens", { mode: "number" }).notNull(),
    outputTokens: bigint("output_tokens", { mode: "number" }).notNull(),
    cacheReadTokens: bigint("cache_read_tokens", { mode: "number" }).notNull(),
    cacheWriteTokens: bigint("cache_write_tokens", { mode: "number" }).notNull(),
    /** USD, exact sum of the priced events' costs. */
    costUsd: usd("cost_usd").notNull(),
  },
  (t) => [
    primaryKey({ name: "usage_month_rollups_pkey", columns: [t.orgId, t.agentId, t.model, t.month] }),
    check("usage_month_rollups_counts_check", sql`${t.events} >= 0 and ${t.unpricedEvents} >= 0 and ${t.unpricedEvents} <= ${t.events}`),
    check("usage_month_rollups_month_check", sql`extract(day from ${t.month}) = 1`),
  ],
);
