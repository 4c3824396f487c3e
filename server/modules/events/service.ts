import { and, eq, isNull, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../../../db/client";
import { webhookDeliveries, webhookEndpoints, webhookEvents } from "../../../db/schema";
import type { TEST_EVENT_TYPE, WebhookEventType } from "../webhooks/schema";
import { type AuditedChange, eventOf } from "./audit-events";

/**
 * The outbox of webhook events (docs/guardrails.md): an event and its deliveries are written in the
 * transaction of the change they report — a delivery row is its own queue entry, due at once — so
 * no change commits without its event and no event exists without its change. Deliveries are
 * claimed and sent by the job runner (the webhooks module's delivery queue). This module imports no other service, so any service (the audit
 * log included) may emit.
 */

/** The `webhook-id` of an event: unique, time-ordered, the same on every attempt. */
const newEventId = () => `msg_${Bun.randomUUIDv7().replaceAll("-", "")}`;

/**
 * Writes an event in the caller's transaction, with one delivery (pending, its first attempt due
 * now) for every enabled endpoint that receives `type`: the event exists exactly when the change it
 * reports commits. Returns the event id (the `webhook-id`), or null when no endpoint receives it
 * (then nothing is written). `endpointId` sends to that one endpoint only, whatever it receives
 * (the test event).
 *
 * This is the one way to emit: organization and agent changes reach it through their audit
 * entries (`emitAudited`); budget, invoice and usage events call it directly.
 */
export async function emit(
  tx: DbOrTx,
  type: WebhookEventType | typeof TEST_EVENT_TYPE,
  data: Record<string, unknown>,
  options: { endpointId?: string } = {},
): Promise<{ eventId: string; deliveryIds: string[] } | null> {
  const endpointIds = options.endpointId ? [options.endpointId] : await receivers(tx, type);
  if (endpointIds.length === 0) return null;
  return write(tx, type, data, endpointIds);
}

/** Enabled endpoints that receive `type`. */
async function receivers(tx: DbOrTx, type: string): Promise<string[]> {
  const found = await tx
    .select({ id: webhookEndpoints.id })
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.enabled, true), or(isNull(webhookEndpoints.eventTypes), sql`${webhookEndpoints.eventTypes} ? ${type}`)));
  return found.map((r) => r.id);
}

async function write(tx: DbOrTx, type: string, data: Record<string, unknown>, endpointIds: string[]) {
  const eventId = newEventId();
  const createdAt = new Date();
  const body = JSON.stringify({ type, timestamp: createdAt.toISOString(), data });
  await tx.insert(webhookEvents).values({ id: eventId, type, body, createdAt });
  const deliveries = await tx
    .insert(webhookDeliveries)
    .values(endpointIds.map((endpointId) => ({ eventId, endpointId, createdAt })))
    .returning({ id: webhookDeliveries.id });
  return { eventId, deliveryIds: deliveries.map((d) => d.id) };
}

/**
 * The webhook event of an audited change, if it is one (audit-events.ts maps audit actions to event
 * types), written in the change's transaction. `current` is the changed object as it is now: the
 * service that made the change passes it (it has just loaded it for its answer), so this module
 * needs no other service and the event carries exactly what the API answered.
 */
export async function emitAudited(tx: DbOrTx, entry: AuditedChange, current?: Record<string, unknown>): Promise<void> {
  const event = eventOf(entry);
  if (!event) return;
  const endpointIds = await receivers(tx, event.type);
  if (endpointIds.length === 0) return;
  const subject = event.fromBefore ? entry.before : current;
  // A service that audits an event's change without its object is a bug, not a client's error.
  if (!subject) throw new Error(`${entry.action} was audited without the ${event.subject} it changed`);
  await write(tx, event.type, { [event.subject]: subject, ...event.extra }, endpointIds);
}
