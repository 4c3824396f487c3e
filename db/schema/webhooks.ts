import { sql } from "drizzle-orm";
import { bigserial, boolean, check, index, integer, jsonb, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { id, instant, timestamps } from "./columns";

/** Receivers of outbound webhooks (docs/guardrails.md, "Webhooks"). Platform-wide: no organization sees them. */
export const webhookEndpoints = pgTable(
  "webhook_endpoints",
  {
    id: id(),
    url: text("url").notNull(),
    description: text("description"),
    /** JSON array of event types this endpoint receives; null = every type. */
    eventTypes: jsonb("event_types").$type<string[] | null>(),
    enabled: boolean("enabled").notNull().default(true),
    /** Why the endpoint was disabled automatically (a 410 from the receiver); cleared when enabled again. */
    disabledReason: text("disabled_reason"),
    /** The signing secret `whsec_…`, sealed with SECRETS_KEY (AES-256-GCM, bound to this row's id). */
    secretSealed: text("secret_sealed").notNull(),
    /** The secret before the last rotation, still signed with until `previous_secret_expires_at`. */
    previousSecretSealed: text("previous_secret_sealed"),
    previousSecretExpiresAt: instant("previous_secret_expires_at"),
    ...timestamps,
  },
);

/**
 * One event, written in the transaction of the change it reports. `body` is the exact JSON sent,
 * so every attempt of every delivery carries the same bytes; `id` is the `webhook-id` header.
 */
export const webhookEvents = pgTable(
  "webhook_events",
  {
    /** `msg_…`, the `webhook-id` of every delivery of this event. */
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    /** `{"type":…,"timestamp":…,"data":…}` as sent. */
    body: text("body").notNull(),
    createdAt: instant("created_at").notNull().defaultNow(),
  },
  (t) => [index("webhook_events_created_idx").on(t.createdAt)],
);

/** One event for one endpoint: its state in the retry schedule. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: id(),
    eventId: text("event_id")
      .notNull()
      .references(() => webhookEvents.id, { onDelete: "cascade" }),
    endpointId: uuid("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    /** `pending` (an attempt is due, scheduled or being made), `succeeded` or `failed`. */
    status: text("status").notNull().default("pending"),
    attemptCount: integer("attempt_count").notNull().default(0),
    /** When the next automatic attempt is due; null once the delivery has succeeded or failed. */
    nextAttemptAt: instant("next_attempt_at").defaultNow(),
    lastAttemptAt: instant("last_attempt_at"),
    /** HTTP status of the last attempt; null when it got no response. */
    lastStatusCode: integer("last_status_code"),
    createdAt: instant("created_at").notNull().defaultNow(),
    completedAt: instant("completed_at"),
    /**
     * The delivery is its own queue entry (docs/guardrails.md, "Delivery and retries"): the token of
     * the batch that claimed its attempt, and the end of that claim's lease. Only the holder of the
     * token records the attempt; a claim whose lease ran out (its instance died) is claimed again.
     */
    claimToken: uuid("claim_token"),
    claimedUntil: instant("claimed_until"),
    /** The next attempt was asked for by hand (retry from the delivery log) after the delivery had settled. */
    manualAttempt: boolean("manual_attempt").notNull().default(false),
  },
  (t) => [
    /**
     * The pending deliveries no batch holds, in the order they come due: what a batch claims from.
     * A claimed delivery leaves it, so the next claim does not walk past the batches in flight.
     */
    index("webhook_deliveries_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending' and ${t.claimToken} is null`),
    /** The claims in flight, by the end of their lease: where a dead instance's claims are found again. */
    index("webhook_deliveries_claimed_idx").on(t.claimedUntil).where(sql`${t.status} = 'pending' and ${t.claimToken} is not null`),
    index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.createdAt, t.id),
    index("webhook_deliveries_event_idx").on(t.eventId),
    check("webhook_deliveries_status_check", sql`${t.status} in ('pending', 'succeeded', 'failed')`),
  ],
);

/** Every attempt of a delivery: the delivery log. */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    deliveryId: uuid("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: "cascade" }),
    attemptedAt: instant("attempted_at").notNull().defaultNow(),
    /** HTTP status; null when there was no response (refused address, connection error, timeout). */
    statusCode: integer("status_code"),
    /** The first 1 KB (1024 bytes) of the response body, decoded as UTF-8. */
    responseBody: text("response_body"),
    /** From the start of the attempt (address resolution included) to the end of reading the response, milliseconds. */
    durationMs: integer("duration_ms").notNull(),
    /** Why the attempt failed without a usable response, or what was wrong with the response (a redirect). */
    error: text("error"),
    /** Started by "retry" in the delivery log rather than by the schedule. */
    manual: boolean("manual").notNull().default(false),
  },
  (t) => [index("webhook_attempts_delivery_idx").on(t.deliveryId, t.id)],
);
