import { sql } from "drizzle-orm";
import { bigint, boolean, check, date, index, numeric, pgTable, pgView, primaryKey, smallint, text, uuid } from "drizzle-orm/pg-core";
import { agents } from "./agents";
import { instant } from "./columns";
import { organizations } from "./orgs";

/**
 * Exact USD amount of token cost. A price has 12 decimals per 1M tokens, so one event's priced cost
 * (integer tokens × price ÷ 10^6) needs 18 decimals to be stored without rounding (costs are never
 * rounded per event: docs/billing.md). Read as a decimal string.
 */
export const usd = (name: string) => numeric(name, { precision: 38, scale: 18 });

/**
 * Raw usage events (one LLM call or a batch of calls), idempotent by the client's id. The
 * organization is the agent's at `occurred_at`, fixed at ingestion. `cost_usd` null = unpriced.
 *
 * Range-partitioned by UTC month of `occurred_at` (`usage_events_pYYYYMM`), so that retention drops
 * whole months (docs/decisions.md, "Partitioned usage events"). Drizzle cannot declare partitioning:
 * the table is created by hand SQL in migration 0018, and this declaration describes its columns,
 * keys and indexes as they are. A key on a partitioned table must contain the partition key, hence
 * `(id, occurred_at)`; an id is unique on its own through `usage_event_ids`.
 */
export const usageEvents = pgTable(
  "usage_events",
  {
    /** Client idempotency key, ≤ 128 characters (unique on its own through usage_event_ids). */
    id: text("id").notNull(),
    /**
     * The agent and the organization (its at `occurred_at`). No per-row foreign keys: a statement-level
     * trigger checks (and key-share locks) every distinct agent and organization of an INSERT or UPDATE
     * once, and triggers on agents and organizations refuse deleting one that has usage (migration 0021,
     * docs/decisions.md "Partitioned usage events").
     */
    agentId: uuid("agent_id").notNull(),
    orgId: uuid("org_id").notNull(),
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
    primaryKey({ name: "usage_events_pkey", columns: [t.id, t.occurredAt] }),
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
 * Every usage event id stored, with the `occurred_at` of its event: what keeps an id unique across
 * the monthly partitions of usage_events (whose key must include `occurred_at`). Ingestion inserts
 * here first, `on conflict (id) do nothing`, and stores an event only when its id was new, so a
 * re-send (same id, same `occurred_at`) and an id re-used with another `occurred_at` are both
 * recognised, also between concurrent batches. Rows leave with their month (docs/operations.md,
 * "Usage retention").
 */
export const usageEventIds = pgTable(
  "usage_event_ids",
  {
    id: text("id").primaryKey(),
    occurredAt: instant("occurred_at").notNull(),
  },
  // Written in time order, deleted by month: a BRIN index finds a month at almost no insertion cost.
  (t) => [index("usage_event_ids_time_brin").using("brin", t.occurredAt)],
);

/**
 * The columns of a month key and its sums, shared by the rollups and their pending deltas (a fresh
 * set of builders per table, as Drizzle needs).
 */
function monthSums(keys: "foreign keys" | "checked per statement") {
  return {
    orgId: keys === "foreign keys" ? uuid("org_id").notNull().references(() => organizations.id) : uuid("org_id").notNull(),
    agentId: keys === "foreign keys" ? uuid("agent_id").notNull().references(() => agents.id) : uuid("agent_id").notNull(),
    model: text("model").notNull(),
    /** First UTC day of the month of `occurred_at`. */
    month: date("month", { mode: "string" }).notNull(),
    events: bigint("events", { mode: "number" }).notNull(),
    /** Events of this key still without a cost (a delta may be negative: re-pricing). */
    unpricedEvents: bigint("unpriced_events", { mode: "number" }).notNull(),
    /** Token sums (tokens). */
    inputTokens: bigint("input_tokens", { mode: "number" }).notNull(),
    outputTokens: bigint("output_tokens", { mode: "number" }).notNull(),
    cacheReadTokens: bigint("cache_read_tokens", { mode: "number" }).notNull(),
    cacheWriteTokens: bigint("cache_write_tokens", { mode: "number" }).notNull(),
    /** USD, exact sum of the priced events' costs. */
    costUsd: usd("cost_usd").notNull(),
  };
}

/**
 * Folded usage per organization, agent, model and UTC calendar month: written only by the fold
 * (`usage.fold`), which moves `usage_month_deltas` into it. Readers never read it alone: they read
 * `usage_month_totals` (folded + pending deltas), which always sums to the raw events. Billing needs
 * nothing finer than a month, and a month key keeps the rows an organization's summary reads
 * independent of the volume of events (docs/benchmarks.md, B3; docs/scaling.md, rollup deltas).
 */
export const usageMonthRollups = pgTable(
  "usage_month_rollups",
  monthSums("foreign keys"),
  (t) => [
    primaryKey({ name: "usage_month_rollups_pkey", columns: [t.orgId, t.agentId, t.model, t.month] }),
    check("usage_month_rollups_counts_check", sql`${t.events} >= 0 and ${t.unpricedEvents} >= 0 and ${t.unpricedEvents} <= ${t.events}`),
    check("usage_month_rollups_month_check", sql`extract(day from ${t.month}) = 1`),
  ],
);

/**
 * Append-only rollup changes not folded yet: each ingestion batch inserts one row per key it touched
 * and re-pricing one per key it moved (cost and unpriced differences, possibly negative), in the
 * same transaction as the events, so concurrent batches never wait on each other's rollup rows.
 * The `usage.fold` job moves them into `usage_month_rollups` every few seconds. No key and no index:
 * a heap append is the cheapest write, and the table stays small. No per-row foreign keys either
 * (a batch appends up to one row per event, and each row's two key-share lookups cost more than the
 * row): a statement-level trigger checks every distinct agent and organization of the rows an
 * INSERT wrote, as for usage_events (migration 0023, docs/scaling.md "Rollup deltas").
 */
export const usageMonthDeltas = pgTable(
  "usage_month_deltas",
  monthSums("checked per statement"),
  (t) => [check("usage_month_deltas_month_check", sql`extract(day from ${t.month}) = 1`)],
);

/**
 * What every reader of monthly usage reads: the folded rollups plus the pending deltas, summed per
 * key (a view created by hand SQL in its migration). One statement sees both from one snapshot, so
 * a fold committing meanwhile neither hides nor doubles anything.
 */
export const usageMonthTotals = pgView("usage_month_totals", monthSums("checked per statement")).existing();

/**
 * What Orgdesk remembers of recent OpenTelemetry spans to find a span's agent: the span, its
 * parent and the `gen_ai.agent.id` it carries (docs/integrations.md, "Which agent a span bills").
 * Exporters send spans as they end, children before their parents and often in other requests,
 * so a billable span's nearest ancestor with an agent id may arrive later.
 */
export const otelSpans = pgTable(
  "otel_spans",
  {
    traceId: text("trace_id").notNull(),
    spanId: text("span_id").notNull(),
    /** Null for a root span. */
    parentSpanId: text("parent_span_id"),
    agentRef: text("agent_ref"),
    receivedAt: instant("received_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.traceId, t.spanId] }), index("otel_spans_received_idx").on(t.receivedAt)],
);

/**
 * Billable spans waiting for an ancestor that names their agent: accepted, not billed, not lost.
 * `event` is the usage event they bill, without its agent. After 30 minutes a waiting span counts
 * as unattributed; it is still billed if its ancestor comes later.
 */
export const otelPendingSpans = pgTable(
  "otel_pending_spans",
  {
    traceId: text("trace_id").notNull(),
    spanId: text("span_id").notNull(),
    event: text("event").notNull(),
    receivedAt: instant("received_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.traceId, t.spanId] }), index("otel_pending_spans_received_idx").on(t.receivedAt)],
);

/**
 * One row per model and UTC day (of `occurred_at`) that had an unpriced event: written by the
 * ingestion that stored the first one, in its transaction, with `insert … on conflict do nothing`.
 * The primary key is what makes `usage.unpriced_model` go out once per model and day, whatever
 * the number of batches or instances (docs/guardrails.md, "Events").
 */
export const usageUnpricedNotices = pgTable(
  "usage_unpriced_notices",
  {
    model: text("model").notNull(),
    day: date("day", { mode: "string" }).notNull(),
    /** The usage event that was first seen unpriced for the model that day. */
    eventId: text("event_id").notNull(),
    createdAt: instant("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.model, t.day] })],
);

/**
 * Ingestion statistics per source and UTC hour, for the Integrations page (docs/integrations.md,
 * "Integrations page"). Shared by every instance, unlike the per-process metrics. Each request or
 * batch adds its counts to one row with one upsert; `shard` (the database session's process id
 * modulo a few) spreads concurrent writers of one source over several rows so that they do not
 * queue on one row lock. Readers sum the shards. Rows older than two days are pruned, except each
 * source's newest hour, which keeps its last reception time.
 */
export const ingestionStats = pgTable(
  "ingestion_stats",
  {
    /** `api` (POST /api/usage and tRPC), `otlp`, `litellm` or `import`. */
    source: text("source").notNull(),
    /** Start of the UTC hour. */
    hour: instant("hour").notNull(),
    shard: smallint("shard").notNull(),
    /** Events (spans, payloads, rows) stored, already stored with the same content, and refused. */
    accepted: bigint("accepted", { mode: "number" }).notNull().default(0),
    duplicates: bigint("duplicates", { mode: "number" }).notNull().default(0),
    rejected: bigint("rejected", { mode: "number" }).notNull().default(0),
    /** When the last request of this source in this hour and shard was received. */
    lastReceivedAt: instant("last_received_at").notNull(),
  },
  (t) => [
    primaryKey({ name: "ingestion_stats_pkey", columns: [t.source, t.hour, t.shard] }),
    check("ingestion_stats_source_check", sql`${t.source} in ('api', 'otlp', 'litellm', 'import')`),
    check("ingestion_stats_counts_check", sql`${t.accepted} >= 0 and ${t.duplicates} >= 0 and ${t.rejected} >= 0`),
  ],
);
