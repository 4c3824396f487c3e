import { and, asc, desc, eq, inArray, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { Webhook as StandardWebhook } from "standardwebhooks";
import type { z } from "zod";
import { type Db, type DbOrTx, preparedRows, rows } from "../../../db/client";
import { agents, organizations, webhookAttempts, webhookDeliveries, webhookEndpoints, webhookEvents } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import { open, seal } from "../../auth/secret-box";
import type { Config } from "../../config";
import type { Ctx } from "../../context";
import { AppError, errorText, invalidField, notFound } from "../../errors";
import type { RequestPermits } from "../../jobs/permits";
import { JOBS_CHANNEL } from "../../jobs/service";
import { log } from "../../observability/log";
import type { WebhookResult } from "../../observability/metrics";
import { decodeCursor, encodeCursor } from "../../shared/cursor";
import { isUuid } from "../../shared/uuid";
import * as audit from "../audit/service";
import * as events from "../events/service";
import {
  TEST_EVENT_TYPE,
  type Webhook,
  type WebhookCreateInput,
  type WebhookDelivery,
  type webhookDeliveriesInput,
  type WebhookEventType,
  type WebhookUpdateInput,
} from "./schema";
import { type Lookup, pinnedRequest, resolveTarget, urlProblem } from "./target";

/**
 * Outbound webhooks following Standard Webhooks (docs/guardrails.md, "Webhooks"): endpoints
 * managed by platform owners and admins, events written in the transaction of the change they
 * report, one delivery per event and endpoint, attempts made by the job runner on a fixed retry
 * schedule, every attempt logged.
 */

/** Retry delays after the 1st … 7th failed attempt, in WEBHOOK_RETRY_UNIT_MS (default: seconds): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const RETRY_SCHEDULE_UNITS = [5, 300, 1800, 7200, 18000, 36000, 36000] as const;
/** A delivery is failed after this many attempts. */
export const MAX_ATTEMPTS = RETRY_SCHEDULE_UNITS.length + 1;
/** How long the secret before a rotation still signs deliveries (alongside the new one), so receivers can switch without losing any. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;
/** How much of a receiver's response the delivery log keeps, bytes. */
export const RESPONSE_PREFIX_BYTES = 1024;

type EndpointRow = typeof webhookEndpoints.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;

function toWebhook(row: EndpointRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    event_types: row.eventTypes ?? null,
    enabled: row.enabled,
    disabled_reason: row.disabledReason,
    previous_secret_expires_at: row.previousSecretExpiresAt && row.previousSecretExpiresAt.getTime() > Date.now() ? row.previousSecretExpiresAt.toISOString() : null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** What the audit log records of an endpoint: its settings, nothing about its secret. */
const audited = (w: Webhook) => ({ url: w.url, description: w.description, event_types: w.event_types, enabled: w.enabled });

/** A new signing secret: `whsec_` and 32 random bytes in base64, the form Standard Webhooks libraries read. */
const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

/** A new event id (the `webhook-id` header): `msg_` and a time-ordered UUID. */
function checkUrl(url: string, config: Config): void {
  const problem = urlProblem(url, config.webhookAllowPrivate);
  if (problem) throw invalidField("url", problem);
}

async function findEndpoint(tx: DbOrTx, id: string, lock = false): Promise<EndpointRow> {
  if (!isUuid(id)) throw notFound("Webhook");
  const query = tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id.toLowerCase()));
  const [row] = lock ? await query.for("no key update") : await query;
  if (!row) throw notFound("Webhook");
  return row;
}

/** Every endpoint, oldest first; never a secret. */
export async function list({ ctx }: { ctx: Ctx; input?: unknown }) {
  authorize(ctx.principal, "webhooks.manage");
  const rows = await ctx.db.select().from(webhookEndpoints).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
  return { webhooks: rows.map(toWebhook) };
}

export async function get({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<Webhook> {
  authorize(ctx.principal, "webhooks.manage");
  return toWebhook(await findEndpoint(ctx.db, input.id));
}

/**
 * Creates an endpoint and returns its signing secret, the only time it is shown. The secret is
 * stored sealed under SECRETS_KEY (we sign with it, so it cannot be hashed).
 */
export async function create({ ctx, input }: { ctx: Ctx; input: WebhookCreateInput }): Promise<Webhook & { secret: string }> {
  authorize(ctx.principal, "webhooks.manage");
  checkUrl(input.url, ctx.config);
  const id = crypto.randomUUID();
  const secret = newSecret();
  const sealed = seal(ctx.config.secretsKey, secret, id);
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(webhookEndpoints)
      .values({ id, url: input.url, description: input.description ?? null, eventTypes: input.event_types ?? null, enabled: input.enabled ?? true, secretSealed: sealed })
      .returning();
    const webhook = toWebhook(row!);
    await audit.record(tx, ctx, { action: "webhook.create", orgId: null, targetType: "webhook", targetId: id, after: audited(webhook) });
    return { ...webhook, secret };
  });
}

/** Changes an endpoint's URL, description, event types or state; enabling it clears why it was disabled. */
export async function update({ ctx, input }: { ctx: Ctx; input: WebhookUpdateInput }): Promise<Webhook> {
  authorize(ctx.principal, "webhooks.manage");
  if (input.url !== undefined) checkUrl(input.url, ctx.config);
  return ctx.db.transaction(async (tx) => {
    const row = await findEndpoint(tx, input.id, true);
    const [updated] = await tx
      .update(webhookEndpoints)
      .set({
        ...(input.url !== undefined ? { url: input.url } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.event_types !== undefined ? { eventTypes: input.event_types } : {}),
        ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
        ...(input.enabled === true ? { disabledReason: null } : {}),
        updatedAt: new Date(),
      })
      .where(eq(webhookEndpoints.id, row.id))
      .returning();
    const after = toWebhook(updated!);
    await audit.recordChange(tx, ctx, { action: "webhook.update", orgId: null, targetType: "webhook", targetId: row.id, before: audited(toWebhook(row)), after: audited(after) });
    return after;
  });
}

/** Deletes an endpoint with its delivery log; attempts still queued for it are dropped. */
async function remove({ ctx, input }: { ctx: Ctx; input: { id: string } }) {
  authorize(ctx.principal, "webhooks.manage");
  return ctx.db.transaction(async (tx) => {
    const row = await findEndpoint(tx, input.id, true);
    await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, row.id));
    await audit.record(tx, ctx, { action: "webhook.delete", orgId: null, targetType: "webhook", targetId: row.id, before: audited(toWebhook(row)) });
    return { success: true as const, id: row.id };
  });
}
export { remove as delete };

/**
 * Replaces the signing secret and returns the new one (shown once). For 24 hours deliveries are
 * signed with both secrets (two `v1,` signatures), so a receiver can switch without rejecting any.
 */
export async function rotateSecret({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<Webhook & { secret: string }> {
  authorize(ctx.principal, "webhooks.manage");
  return ctx.db.transaction(async (tx) => {
    const row = await findEndpoint(tx, input.id, true);
    const secret = newSecret();
    const [updated] = await tx
      .update(webhookEndpoints)
      .set({
        secretSealed: seal(ctx.config.secretsKey, secret, row.id),
        previousSecretSealed: row.secretSealed,
        previousSecretExpiresAt: new Date(Date.now() + ROTATION_OVERLAP_MS),
        updatedAt: new Date(),
      })
      .where(eq(webhookEndpoints.id, row.id))
      .returning();
    const webhook = toWebhook(updated!);
    // Nothing about either secret, only that the endpoint was re-keyed and until when the old one signs.
    await audit.record(tx, ctx, { action: "webhook.rotate", orgId: null, targetType: "webhook", targetId: row.id, after: { old_signature_until: webhook.previous_secret_expires_at } });
    return { ...webhook, secret };
  });
}

// ---------------------------------------------------------------------------------------------
// Events

/** Queues a test event for one endpoint (also a disabled one, to check a receiver before enabling it). */
export async function sendTest({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<WebhookDelivery> {
  authorize(ctx.principal, "webhooks.manage");
  const deliveryId = await ctx.db.transaction(async (tx) => {
    const row = await findEndpoint(tx, input.id);
    const written = await events.emit(tx, TEST_EVENT_TYPE, { endpoint_id: row.id, message: "A test event from Orgdesk" }, { endpointId: row.id });
    await audit.record(tx, ctx, { action: "webhook.test", orgId: null, targetType: "webhook", targetId: row.id, after: { event_id: written!.eventId } });
    return written!.deliveryIds[0]!;
  });
  return (await loadDeliveries(ctx.db, [deliveryId]))[0]!;
}

// ---------------------------------------------------------------------------------------------
// The delivery log

const deliveryColumns = { delivery: webhookDeliveries, eventType: webhookEvents.type };

async function loadDeliveries(db: DbOrTx, ids: string[]): Promise<WebhookDelivery[]> {
  if (ids.length === 0) return [];
  const found = await db.select(deliveryColumns).from(webhookDeliveries).innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId)).where(inArray(webhookDeliveries.id, ids));
  const byId = new Map(found.map((r) => [r.delivery.id, r]));
  const attempts = await db.select().from(webhookAttempts).where(inArray(webhookAttempts.deliveryId, ids)).orderBy(asc(webhookAttempts.id));
  return ids.flatMap((id) => {
    const r = byId.get(id);
    return r ? [toDelivery(r.delivery, r.eventType, attempts.filter((a) => a.deliveryId === id))] : [];
  });
}

function toDelivery(d: DeliveryRow, eventType: string, attempts: (typeof webhookAttempts.$inferSelect)[]): WebhookDelivery {
  return {
    id: d.id,
    endpoint_id: d.endpointId,
    event_id: d.eventId,
    event_type: eventType,
    status: d.status as WebhookDelivery["status"],
    attempt_count: d.attemptCount,
    next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
    last_attempt_at: d.lastAttemptAt?.toISOString() ?? null,
    last_status_code: d.lastStatusCode,
    created_at: d.createdAt.toISOString(),
    completed_at: d.completedAt?.toISOString() ?? null,
    attempts: attempts.map((a) => ({
      attempted_at: a.attemptedAt.toISOString(),
      status_code: a.statusCode,
      response_body: a.responseBody,
      duration_ms: a.durationMs,
      error: a.error,
      manual: a.manual,
    })),
  };
}

/** An endpoint's deliveries, newest first, each with its attempts; optionally only one status. */
export async function deliveries({ ctx, input }: { ctx: Ctx; input: z.infer<typeof webhookDeliveriesInput> }) {
  authorize(ctx.principal, "webhooks.manage");
  const endpoint = await findEndpoint(ctx.db, input.id);
  const conditions: (SQL | undefined)[] = [eq(webhookDeliveries.endpointId, endpoint.id)];
  if (input.status) conditions.push(eq(webhookDeliveries.status, input.status));
  if (input.cursor) {
    const [at, id] = decodeCursor(input.cursor, ["text", "uuid"]) as [string, string];
    if (Number.isNaN(Date.parse(at))) throw invalidField("cursor", "is not a valid cursor");
    conditions.push(sql`(${webhookDeliveries.createdAt}, ${webhookDeliveries.id}) < (${at}::timestamptz, ${id}::uuid)`);
  }
  const page = await ctx.db
    .select({ id: webhookDeliveries.id, createdAt: webhookDeliveries.createdAt })
    .from(webhookDeliveries)
    .where(and(...conditions))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(input.limit + 1);
  const shown = page.slice(0, input.limit);
  const last = shown.at(-1);
  return {
    deliveries: await loadDeliveries(ctx.db, shown.map((r) => r.id)),
    next_cursor: page.length > input.limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
  };
}

/**
 * Sends a delivery again now, with the same `webhook-id`. A delivery still in its schedule gets
 * its next attempt now, and the schedule goes on from there if it fails; a delivery that already
 * succeeded or failed gets this one attempt.
 */
export async function retry({ ctx, input }: { ctx: Ctx; input: { id: string } }): Promise<WebhookDelivery> {
  authorize(ctx.principal, "webhooks.manage");
  if (!isUuid(input.id)) throw notFound("Delivery");
  await ctx.db.transaction(async (tx) => {
    const [found] = await tx
      .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints, eventType: webhookEvents.type })
      .from(webhookDeliveries)
      .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
      .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
      .where(eq(webhookDeliveries.id, input.id.toLowerCase()))
      .for("update", { of: webhookDeliveries });
    if (!found) throw notFound("Delivery");
    const { delivery, endpoint } = found;
    if (!endpoint.enabled && found.eventType !== TEST_EVENT_TYPE) throw new AppError("CONFLICT", "The endpoint is disabled; enable it before retrying its deliveries");
    const settled = delivery.status !== "pending";
    if (settled) {
      await tx
        .update(webhookDeliveries)
        .set({ status: "pending", nextAttemptAt: sql`now()`, completedAt: null, manualAttempt: true })
        .where(eq(webhookDeliveries.id, delivery.id));
    } else {
      // Its next attempt now — unless an attempt is being made right now (a live claim), which
      // records the delivery's next state itself: a second attempt beside it is not started.
      await tx
        .update(webhookDeliveries)
        .set({ nextAttemptAt: sql`now()` })
        .where(and(eq(webhookDeliveries.id, delivery.id), or(isNull(webhookDeliveries.claimedUntil), lt(webhookDeliveries.claimedUntil, sql`now()`))));
    }
    // Wakes idle runners when this commits (runners also poll).
    await tx.execute(sql`select pg_notify(${JOBS_CHANNEL}, '')`);
    await audit.record(tx, ctx, { action: "webhook.retry", orgId: null, targetType: "webhook_delivery", targetId: delivery.id, after: { event_id: delivery.eventId, endpoint_id: endpoint.id } });
  });
  return (await loadDeliveries(ctx.db, [input.id.toLowerCase()]))[0]!;
}

// ---------------------------------------------------------------------------------------------
// Attempts (run by the job runner)

interface Outcome {
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
}

/** The signers of an endpoint's attempts: its current secret, and its previous one during a rotation's overlap. */
interface Signers {
  current: StandardWebhook;
  previous: StandardWebhook | null;
  previousUntil: number;
}

function signersOf(endpoint: Endpoint, key: Uint8Array | undefined): Signers {
  const rotating = endpoint.previousSecretSealed && endpoint.previousSecretExpiresAt;
  return {
    current: new StandardWebhook(open(key, endpoint.secretSealed, endpoint.id)),
    previous: rotating ? new StandardWebhook(open(key, endpoint.previousSecretSealed!, endpoint.id)) : null,
    previousUntil: rotating ? endpoint.previousSecretExpiresAt!.getTime() : 0,
  };
}

/** The signatures for one attempt: with the current secret, and with the previous one during a rotation's overlap. */
function signatures(signers: Signers, eventId: string, at: Date, body: string): string {
  const current = signers.current.sign(eventId, at, body);
  return signers.previous && signers.previousUntil > at.getTime() ? `${current} ${signers.previous.sign(eventId, at, body)}` : current;
}

/** Reads at most `limit` bytes of a response body, then stops reading (a receiver cannot make us download more). */
async function readPrefix(res: Response, limit: number): Promise<string> {
  if (!res.body) return "";
  // A plain body that says it fits (Content-Length frames it: no more is read) is read whole, natively.
  const length = res.headers.get("content-length");
  const encoding = res.headers.get("content-encoding");
  if (length !== null && /^\d+$/.test(length) && Number(length) <= limit && (encoding === null || encoding === "identity")) return await res.text();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit));
}

/**
 * Text a receiver sent, as PostgreSQL can store it: NUL characters, which its text cannot hold
 * (and which would make the batch's whole recording fail, so that every delivery in it was sent
 * again), become U+FFFD, as undecodable bytes already are.
 */
function storable(text: string | null): string | null {
  return text !== null && text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text;
}

/** An attempt's error when the receiver's answer could not be stored (see `deliver`). */
export const UNLOGGABLE_ANSWER = "The attempt was made, but the receiver's answer could not be stored";

/** A batch's checked targets whose host is an address written in the URL (see `post`). */
type KnownTargets = Map<string, ReturnType<typeof pinnedRequest>>;

/**
 * One POST to a checked, pinned address; never throws. A host name is resolved and checked at every
 * attempt; an address written in the URL resolves to itself, so its check is made once per batch
 * (`known`) and reused by the batch's other attempts to the same URL.
 */
async function post(url: string, body: string, headers: Record<string, string>, config: Config, signal: AbortSignal, lookup?: Lookup, known?: KnownTargets): Promise<Outcome> {
  let pinned = known?.get(url);
  if (!pinned) {
    const target = await resolveTarget(url, { allowPrivate: config.webhookAllowPrivate, lookup });
    if (!target.ok) return { statusCode: null, responseBody: null, error: target.error };
    pinned = pinnedRequest(target);
    if (known && target.literal) known.set(url, pinned);
  }
  const timeout = AbortSignal.timeout(config.webhookTimeoutMs);
  try {
    const res = await fetch(pinned.url, {
      method: "POST",
      headers: { ...headers, host: pinned.host, "content-type": "application/json", "user-agent": "Orgdesk-Webhooks/1" },
      body,
      redirect: "manual",
      signal: AbortSignal.any([signal, timeout]),
      tls: { serverName: pinned.serverName },
    });
    const responseBody = await readPrefix(res, RESPONSE_PREFIX_BYTES);
    const location = res.headers.get("location");
    const error = res.status >= 300 && res.status < 400 ? `Redirects are not followed${location ? ` (Location: ${location.slice(0, 500)})` : ""}` : null;
    return { statusCode: res.status, responseBody, error };
  } catch (err) {
    if (timeout.aborted) return { statusCode: null, responseBody: null, error: `Timed out after ${config.webhookTimeoutMs} ms` };
    if (signal.aborted) throw err;
    const e = err as { code?: string; message?: string };
    return { statusCode: null, responseBody: null, error: `${e.code ? `${e.code}: ` : ""}${(e.message ?? String(err)).slice(0, 500)}` };
  }
}

/** How many deliveries one batch claims and attempts together. */
export const DELIVERY_BATCH = 500;
/** How many of a batch's requests are in flight at once (so at most JOB_CONCURRENCY × this per instance). */
export const DELIVERY_IN_FLIGHT = 100;

/** What an attempt needs of its endpoint. */
type Endpoint = Pick<EndpointRow, "id" | "url" | "enabled" | "secretSealed" | "previousSecretSealed" | "previousSecretExpiresAt">;

/** One claimed delivery with what its attempt needs. */
interface ClaimedDelivery {
  id: string;
  attemptCount: number;
  manual: boolean;
  endpoint: Endpoint;
  event: { id: string; type: string; body: string };
}

/** Deliveries claimed together under one token (see claimDue). */
export interface DeliveryBatch {
  token: string;
  deliveries: ClaimedDelivery[];
}

const at = (value: unknown): Date | null => (value === null || value === undefined ? null : value instanceof Date ? value : new Date(String(value)));

/**
 * Claims up to `limit` due deliveries under `token` until `leaseMs` from now, and loads them with
 * their endpoints and events — one statement. A delivery is its own queue entry: due when it is
 * pending, its next attempt's time has come and no live claim holds it (a claim whose lease ran out
 * — its instance died — is due again, and goes first). `FOR UPDATE SKIP LOCKED`: rows another
 * instance is claiming at the same moment are skipped, never claimed twice. Null when none is due.
 *
 * Unclaimed and claimed deliveries are read from two partial indexes: a claim takes its rows out
 * of the one the next claim reads, so claims do not slow down with the batches in flight (each
 * walked past every claimed row before; tests/bench/fixes.md, fix 23). The claimed rows are
 * updated by primary key (`= any(array(…))`), never through a join the planner may make a hash of
 * the whole table for (fix 24).
 */
export async function claimDue(db: DbOrTx, options: { token: string; leaseMs: number; limit?: number }): Promise<{ batch: DeliveryBatch; full: boolean } | null> {
  const limit = options.limit ?? DELIVERY_BATCH;
  const found = await preparedRows<{
    id: string;
    attempt_count: number;
    manual_attempt: boolean;
    endpoint_id: string;
    url: string;
    enabled: boolean;
    secret_sealed: string;
    previous_secret_sealed: string | null;
    previous_secret_expires_at: unknown;
    event_id: string;
    event_type: string;
    body: string;
  }>(
    db,
    sql`with stale as (
          select id from ${webhookDeliveries}
           where status = 'pending' and claim_token is not null and claimed_until < now()
           order by claimed_until
           limit ${limit}
             for update skip locked
        ), fresh as (
          select id from ${webhookDeliveries}
           where status = 'pending' and claim_token is null and next_attempt_at <= now()
           order by next_attempt_at
           limit ${limit}
             for update skip locked
        ), due as (
          (select id from stale) union all (select id from fresh) limit ${limit}
        ), claimed as (
          update ${webhookDeliveries} d
             set claim_token = ${options.token}::uuid, claimed_until = now() + ${Math.round(options.leaseMs)} * interval '1 millisecond'
           where d.id = any(array(select id from due))
          returning d.id, d.attempt_count, d.manual_attempt, d.endpoint_id, d.event_id
        )
        select c.id, c.attempt_count, c.manual_attempt, c.endpoint_id, e.url, e.enabled, e.secret_sealed, e.previous_secret_sealed,
               e.previous_secret_expires_at, c.event_id, v.type as event_type, v.body
          from claimed c
          join ${webhookEndpoints} e on e.id = c.endpoint_id
          join ${webhookEvents} v on v.id = c.event_id`,
  );
  if (found.length === 0) return null;
  const deliveries = found.map((r) => ({
    id: r.id,
    attemptCount: Number(r.attempt_count),
    manual: r.manual_attempt,
    endpoint: {
      id: r.endpoint_id,
      url: r.url,
      enabled: r.enabled,
      secretSealed: r.secret_sealed,
      previousSecretSealed: r.previous_secret_sealed,
      previousSecretExpiresAt: at(r.previous_secret_expires_at),
    },
    event: { id: r.event_id, type: r.event_type, body: r.body },
  }));
  return { batch: { token: options.token, deliveries }, full: found.length >= limit };
}

/** Gives the deliveries still claimed under `token` back, due after `delayMs` (a batch that threw or was stopped); no attempt is counted. */
export async function release(db: DbOrTx, token: string, delayMs: number): Promise<void> {
  await db.execute(
    sql`update ${webhookDeliveries}
           set claim_token = null, claimed_until = null,
               next_attempt_at = greatest(next_attempt_at, now() + ${Math.max(0, Math.round(delayMs))} * interval '1 millisecond')
         where claim_token = ${token}::uuid and status = 'pending'`,
  );
}

interface Sent {
  delivery: ClaimedDelivery;
  outcome: Outcome;
  attemptedAt: Date;
  durationMs: number;
}

/** Signs and sends one attempt of a delivery; never throws but for the batch's own abort. */
async function attemptOne(delivery: ClaimedDelivery, signersFor: (endpoint: Endpoint) => Signers, config: Config, signal: AbortSignal, options: { lookup?: Lookup }, known: KnownTargets): Promise<Sent> {
  const { endpoint, event } = delivery;
  const started = performance.now();
  const attemptedAt = new Date();
  const notSent = (why: string): Outcome => ({ statusCode: null, responseBody: null, error: `Not sent: ${why}` });
  let outcome: Outcome;
  if (!endpoint.enabled && event.type !== TEST_EVENT_TYPE) {
    outcome = notSent("the endpoint is disabled");
  } else {
    let signature: string | undefined;
    try {
      signature = signatures(signersFor(endpoint), event.id, attemptedAt, event.body);
    } catch (err) {
      signature = undefined;
      outcome = notSent((err as Error).message);
    }
    if (signature !== undefined) {
      const headers = { "webhook-id": event.id, "webhook-timestamp": String(Math.floor(attemptedAt.getTime() / 1000)), "webhook-signature": signature };
      outcome = await post(endpoint.url, event.body, headers, config, signal, options.lookup, known);
    }
  }
  return { delivery, outcome: outcome!, attemptedAt, durationMs: Math.round(performance.now() - started) };
}

/** One attempt as the recording statement writes it: its log row and the delivery's state after it. */
export interface RecordedAttempt {
  id: string;
  attempt_count: number;
  attempted_at: string;
  status_code: number | null;
  response_body: string | null;
  duration_ms: number;
  error: string | null;
  manual: boolean;
  status: string;
  next_attempt_at: string | null;
  completed_at: string | null;
}

/**
 * The statement that records a batch under `token` (see `deliver`): its attempts, the endpoints
 * that answered 410 (`gone`), and the deliveries it did not start (`unsent`).
 */
export function recordStatement(token: string, recorded: RecordedAttempt[], gone: { id: string; reason: string }[], unsent: string[]): SQL {
  // One statement, so it commits whole or not at all, with one statement text and three JSON
  // parameters whatever the batch's size. `json`, not `jsonb`: each is read once, front to back, and
  // reading 500 attempts as json costs PostgreSQL about 40 % less than converting them to jsonb
  // first (2.0 against 3.4 ms of its CPU). Each part touches only deliveries still under this
  // batch's token. Every part reaches its deliveries by primary key, from the batch's rows: the
  // token goes into each of them and is compared in the join, never as a filter on the table, whose selectivity the planner
  // cannot know (it took the batch's 500 rows for one, and joined them in a nested loop over the
  // batch: 500 × 500 comparisons, tests/bench/fixes.md, fix 24).
  const a = webhookAttempts;
  const d = webhookDeliveries;
  const col = (c: { name: string }) => sql.identifier(c.name);
  return sql`with v as (
          select * from json_to_recordset(${JSON.stringify(recorded.map((r) => ({ ...r, token })))}::json) as x(id uuid, token uuid, attempt_count int, attempted_at timestamptz,
            status_code int, response_body text, duration_ms int, error text, manual boolean, status text, next_attempt_at timestamptz, completed_at timestamptz)
        ), updated as (
          update ${d} set ${col(d.attemptCount)} = v.attempt_count, ${col(d.lastAttemptAt)} = v.attempted_at, ${col(d.lastStatusCode)} = v.status_code,
                 ${col(d.status)} = v.status, ${col(d.nextAttemptAt)} = v.next_attempt_at, ${col(d.completedAt)} = v.completed_at,
                 ${col(d.claimToken)} = null, ${col(d.claimedUntil)} = null, ${col(d.manualAttempt)} = false
            from v where ${d.id} = v.id and ${d.claimToken} = v.token
          returning v.id, v.attempted_at, v.status_code, v.response_body, v.duration_ms, v.error, v.manual
        ), logged as (
          insert into ${a} (${col(a.deliveryId)}, ${col(a.attemptedAt)}, ${col(a.statusCode)}, ${col(a.responseBody)}, ${col(a.durationMs)}, ${col(a.error)}, ${col(a.manual)})
          select id, attempted_at, status_code, response_body, duration_ms, error, manual from updated
        ), disabled as (
          update ${webhookEndpoints} e set enabled = false, disabled_reason = g.reason, updated_at = now()
            from json_to_recordset(${JSON.stringify(gone)}::json) as g(id uuid, reason text)
           where e.id = g.id
        )
        update ${d} set ${col(d.claimToken)} = null, ${col(d.claimedUntil)} = null
         where ${d.id} = any(array(select json_array_elements_text(${JSON.stringify(unsent)}::json)::uuid)) and ${d.claimToken} = ${token}::uuid`;
}

/**
 * Attempts a claimed batch of deliveries (claimDue) within a start budget, each request holding
 * one of the runner's `permits` (DELIVERY_IN_FLIGHT at a time without them), then records them with
 * one statement (`recordStatement`): every attempt logged, every delivery's next state
 * (succeeded, failed, or pending with its next time on the retry schedule) and its claim cleared,
 * endpoints that answered 410 disabled, and the deliveries not started given back. Only the
 * deliveries still under the batch's token are recorded: one whose lease ran out and was claimed
 * again belongs to that claim now (its attempt here was sent but is not logged; the receiver may
 * see it twice — at least once). A crash before the statement commits leaves the deliveries
 * claimed until their leases run out; then they are claimed and sent again, with the same
 * `webhook-id`. The body and `webhook-id` are the event's, so every attempt carries the same ones;
 * the timestamp and signatures are the attempt's.
 *
 * 2xx: succeeded. 410: failed, and the endpoint is disabled. Anything else (another status, a
 * redirect, no response, a refused address): retried after the next delay of the schedule, and
 * failed after the last; a manual attempt is not retried. `lookup` replaces DNS (tests).
 */
export async function deliver(ctx: Ctx, batch: DeliveryBatch, signal: AbortSignal, options: { lookup?: Lookup; dispatched?: () => void; permits?: RequestPermits } = {}): Promise<void> {
  const config = ctx.config;
  const started = performance.now();
  const due = batch.deliveries;
  // One signer per endpoint and batch (opening a sealed secret and decoding it once, not per attempt).
  const signers = new Map<string, Signers>();
  const signersFor = (endpoint: Endpoint) => {
    let found = signers.get(endpoint.id);
    if (!found) signers.set(endpoint.id, (found = signersOf(endpoint, config.secretsKey)));
    return found;
  };
  // Each worker holds one of the runner's permits (JOB_CONCURRENCY × DELIVERY_IN_FLIGHT, shared by
  // the instance's batches; without them, DELIVERY_IN_FLIGHT workers) while it sends, one request
  // at a time, and gives it back when the batch has nothing left to start: a younger batch's
  // workers take the permits as this one's finish, so the requests in flight stay within the bound
  // and an older batch is never slowed by a younger one. None starts after the start budget (one
  // request timeout into the batch): a slow receiver cannot hold the batch past its limit (two
  // timeouts and the recording); those not started go back to the queue, due now, without
  // counting an attempt.
  const startBy = started + config.webhookTimeoutMs;
  const known: KnownTargets = new Map();
  const sent: Sent[] = [];
  const unsent: string[] = [];
  const permits = options.permits;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(permits?.size ?? DELIVERY_IN_FLIGHT, due.length) }, async () => {
      try {
        await permits?.acquire(signal);
      } catch {
        // The batch was stopped while this worker waited: it takes no permit (the runner gives
        // the batch's deliveries back).
        return;
      }
      try {
        while (next < due.length) {
          const d = due[next++]!;
          // Every request has started (or is left unsent): the runner may claim the next batch.
          if (next === due.length) options.dispatched?.();
          if (performance.now() > startBy) unsent.push(d.id);
          else sent.push(await attemptOne(d, signersFor, config, signal, options, known));
        }
      } finally {
        permits?.release();
      }
    }),
  );
  /** Per attempt: the attempt's log row and the delivery's state after it. */
  const recorded: RecordedAttempt[] = [];
  const gone = new Map<string, string>();
  const results: WebhookResult[] = [];
  for (const s of sent) {
    const { outcome, attemptedAt, durationMs, delivery } = s;
    const { endpoint, manual } = delivery;
    const attemptCount = delivery.attemptCount + 1;
    const status = outcome.statusCode;
    const succeeded = status !== null && status >= 200 && status < 300 && outcome.error === null;
    const isGone = status === 410;
    const delayUnits = manual || !endpoint.enabled ? undefined : RETRY_SCHEDULE_UNITS[attemptCount - 1];
    // A 410 or a manual attempt that fails is a failure; running out of scheduled retries is giving up.
    results.push(succeeded ? "delivered" : isGone || manual ? "failed" : delayUnits === undefined ? "gave_up" : "retry_scheduled");
    const settled = succeeded || isGone || delayUnits === undefined;
    if (isGone) gone.set(endpoint.id, `The receiver answered 410 Gone on ${attemptedAt.toISOString()}`);
    recorded.push({
      id: delivery.id,
      attempt_count: attemptCount,
      attempted_at: attemptedAt.toISOString(),
      status_code: status,
      response_body: storable(outcome.responseBody),
      duration_ms: durationMs,
      error: storable(outcome.error),
      manual,
      status: settled ? (succeeded ? "succeeded" : "failed") : "pending",
      next_attempt_at: settled ? null : new Date(attemptedAt.getTime() + durationMs + delayUnits! * config.webhookRetryUnitMs).toISOString(),
      completed_at: settled ? new Date().toISOString() : null,
    });
  }
  const goneList = [...gone].map(([id, reason]) => ({ id, reason }));
  try {
    await preparedRows(ctx.db, recordStatement(batch.token, recorded, goneList, unsent));
  } catch (err) {
    // The requests were sent. Giving the deliveries back uncounted would send them again, and
    // again without end if what the receivers answered is what the database refuses. So they are
    // recorded once more without the answers' text: every attempt counted and its schedule kept.
    // Only if that fails too (the database itself is failing) does the batch throw, and its
    // deliveries go back to the queue.
    log.error(`[webhooks] batch ${batch.token}: its attempts could not be logged with the receivers' answers; logging them without: ${errorText(err)}`);
    const bare = recorded.map((r) => ({ ...r, response_body: null, error: UNLOGGABLE_ANSWER }));
    await preparedRows(ctx.db, recordStatement(batch.token, bare, goneList, unsent));
  }
  for (const r of results) ctx.metrics?.webhookDelivery(r);
}

/**
 * Deletes delivery logs that succeeded or failed more than WEBHOOK_LOG_RETENTION_DAYS ago, and
 * events left without deliveries, in batches. Returns how many deliveries were deleted.
 */
export async function prune(ctx: Ctx): Promise<number> {
  const db: Db = ctx.db;
  const cutoff = sql`now() - ${ctx.config.webhookLogRetentionDays} * interval '1 day'`;
  let total = 0;
  for (;;) {
    const batch = db
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(and(inArray(webhookDeliveries.status, ["succeeded", "failed"]), lt(webhookDeliveries.completedAt, cutoff)))
      .limit(1000);
    const deleted = await db.delete(webhookDeliveries).where(inArray(webhookDeliveries.id, batch)).returning({ id: webhookDeliveries.id });
    total += deleted.length;
    if (deleted.length < 1000) break;
  }
  await db.execute(
    sql`delete from ${webhookEvents} where ${webhookEvents.createdAt} < ${cutoff}
        and not exists (select 1 from ${webhookDeliveries} where ${webhookDeliveries.eventId} = ${webhookEvents.id})`,
  );
  return total;
}
