import { and, asc, desc, eq, inArray, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { Webhook as StandardWebhook } from "standardwebhooks";
import type { z } from "zod";
import type { Db, DbOrTx } from "../../../db/client";
import { agents, organizations, webhookAttempts, webhookDeliveries, webhookEndpoints, webhookEvents } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import { open, seal } from "../../auth/secret-box";
import type { Config } from "../../config";
import type { Ctx } from "../../context";
import { AppError, invalidField, notFound } from "../../errors";
import { webhookDeliver } from "../../jobs/kinds";
import type { JobRun } from "../../jobs/kinds";
import * as jobs from "../../jobs/service";
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
      await tx.update(webhookDeliveries).set({ status: "pending", nextAttemptAt: new Date(), completedAt: null }).where(eq(webhookDeliveries.id, delivery.id));
    } else {
      await tx.update(webhookDeliveries).set({ nextAttemptAt: new Date() }).where(eq(webhookDeliveries.id, delivery.id));
    }
    // Keyed by delivery: an attempt already queued is moved to now rather than doubled.
    await jobs.enqueue(tx, webhookDeliver, { delivery_id: delivery.id, ...(settled ? { manual: true } : {}) }, { key: delivery.id });
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

function signersOf(endpoint: EndpointRow, key: Uint8Array | undefined): Signers {
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

/** One POST to a checked, pinned address; never throws. */
async function post(url: string, body: string, headers: Record<string, string>, config: Config, signal: AbortSignal, lookup?: Lookup): Promise<Outcome> {
  const target = await resolveTarget(url, { allowPrivate: config.webhookAllowPrivate, lookup });
  if (!target.ok) return { statusCode: null, responseBody: null, error: target.error };
  const pinned = pinnedRequest(target);
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

/** `column in (…)` with the ids as one JSON parameter: one statement text, however many ids. */
function idIn(column: typeof webhookDeliveries.id, ids: string[]): SQL {
  return sql`${column} in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`;
}

/** How many deliveries one `webhook.deliver` run attempts together: its own and those it claims besides. */
export const DELIVERY_BATCH = 500;
/** How many of a run's requests are in flight at once (so at most JOB_CONCURRENCY × this per instance). */
export const DELIVERY_IN_FLIGHT = 100;

type DeliverRun = JobRun<{ delivery_id: string; manual?: boolean }>;

interface Sent {
  run: DeliverRun;
  endpoint: EndpointRow;
  outcome: Outcome;
  attemptedAt: Date;
  durationMs: number;
  manual: boolean;
}

/** Signs and sends one attempt of a delivery; never throws but for the run's own abort. */
async function attemptOne(
  run: DeliverRun,
  endpoint: EndpointRow,
  event: typeof webhookEvents.$inferSelect,
  signersFor: (endpoint: EndpointRow) => Signers,
  options: { lookup?: Lookup },
): Promise<Sent> {
  const config = run.ctx.config;
  const manual = run.payload.manual === true;
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
      outcome = await post(endpoint.url, event.body, headers, config, run.signal, options.lookup);
    }
  }
  return { run, endpoint, outcome: outcome!, attemptedAt, durationMs: Math.round(performance.now() - started), manual };
}

/**
 * Attempts of deliveries, run by the `webhook.deliver` job: this run's delivery and up to
 * DELIVERY_BATCH − 1 more that are due (claimed as jobs of their own, so each keeps its claim,
 * lease and retries), sent DELIVERY_IN_FLIGHT at a time within a start budget, then recorded together — every attempt, every
 * delivery's next state, and every job's completion or next run on the retry schedule — in one
 * transaction. A crash before it commits leaves the jobs claimed until their leases run out; the
 * next run sends them again, with the same `webhook-id` (at least once). The body and `webhook-id`
 * are the event's, so every attempt carries the same ones; the timestamp and signatures are the
 * attempt's.
 *
 * 2xx: succeeded. 410: failed, and the endpoint is disabled. Anything else (another status, a
 * redirect, no response, a refused address): retried after the next delay of the schedule, and
 * failed after the last. `lookup` replaces DNS (tests).
 */
export async function deliver(run: DeliverRun, options: { lookup?: Lookup } = {}): Promise<void> {
  const { ctx } = run;
  const config = ctx.config;
  const started = performance.now();
  const runs = [run, ...(await run.claimMore(DELIVERY_BATCH - 1))];
  const found = await ctx.db
    .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints, event: webhookEvents })
    .from(webhookDeliveries)
    .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
    .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
    .where(idIn(webhookDeliveries.id, [...new Set(runs.map((r) => r.payload.delivery_id))]));
  const byId = new Map(found.map((f) => [f.delivery.id, f]));
  // Deleted with its endpoint, already settled by another run, or twice in this batch (a manual
  // retry beside its scheduled attempt): nothing (more) to send, the job is done.
  const seen = new Set<string>();
  const due = runs.filter((r) => {
    const id = r.payload.delivery_id;
    if (byId.get(id)?.delivery.status !== "pending" || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  const idle = runs.filter((r) => !due.includes(r));
  // One signer per endpoint and run (opening a sealed secret and decoding it once, not per attempt).
  const signers = new Map<string, Signers>();
  const signersFor = (endpoint: EndpointRow) => {
    let found = signers.get(endpoint.id);
    if (!found) signers.set(endpoint.id, (found = signersOf(endpoint, config.secretsKey)));
    return found;
  };
  // DELIVERY_IN_FLIGHT requests at a time. None starts after the start budget (one request
  // timeout into the run): a slow receiver cannot hold the run past its limit (two timeouts and
  // the recording); those not started go back to the queue, due now, without counting an attempt.
  const startBy = started + config.webhookTimeoutMs;
  const sent: Sent[] = [];
  const unsent: DeliverRun[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(DELIVERY_IN_FLIGHT, due.length) }, async () => {
      while (next < due.length) {
        const r = due[next++]!;
        if (performance.now() > startBy) {
          unsent.push(r);
          continue;
        }
        const f = byId.get(r.payload.delivery_id)!;
        sent.push(await attemptOne(r, f.endpoint, f.event, signersFor, options));
      }
    }),
  );
  await ctx.db.transaction(async (tx) => {
    const ids = sent.map((s) => s.run.payload.delivery_id);
    const locked =
      ids.length === 0
        ? []
        : await tx
            .select()
            .from(webhookDeliveries)
            .where(idIn(webhookDeliveries.id, ids))
            .orderBy(asc(webhookDeliveries.id))
            .for("update");
    const current = new Map(locked.map((d) => [d.id, d]));
    const done: DeliverRun[] = [...idle];
    /** Per attempt: the attempt's log row and the delivery's state after it, written by one statement. */
    const recorded: {
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
    }[] = [];
    const gone = new Map<string, Date>();
    const retries: { run: DeliverRun; delayMs: number }[] = [];
    for (const s of sent) {
      const delivery = current.get(s.run.payload.delivery_id);
      // Deleted (with its endpoint) while the attempt was made.
      if (!delivery) {
        done.push(s.run);
        continue;
      }
      const { outcome, attemptedAt, durationMs, manual, endpoint } = s;
      const attemptCount = delivery.attemptCount + 1;
      const status = outcome.statusCode;
      const succeeded = status !== null && status >= 200 && status < 300 && outcome.error === null;
      const isGone = status === 410;
      const delayUnits = manual || !endpoint.enabled ? undefined : RETRY_SCHEDULE_UNITS[attemptCount - 1];
      // A 410 or a manual attempt that fails is a failure; running out of scheduled retries is giving up.
      ctx.metrics?.webhookDelivery(succeeded ? "delivered" : isGone || manual ? "failed" : delayUnits === undefined ? "gave_up" : "retry_scheduled");
      const row = (state: string, next: Date | null, completed: Date | null) =>
        recorded.push({
          id: delivery.id,
          attempt_count: attemptCount,
          attempted_at: attemptedAt.toISOString(),
          status_code: status,
          response_body: outcome.responseBody,
          duration_ms: durationMs,
          error: outcome.error,
          manual,
          status: state,
          next_attempt_at: next?.toISOString() ?? null,
          completed_at: completed?.toISOString() ?? null,
        });
      if (succeeded || isGone || delayUnits === undefined) {
        row(succeeded ? "succeeded" : "failed", null, new Date());
        if (isGone) gone.set(endpoint.id, attemptedAt);
        done.push(s.run);
      } else {
        const delayMs = delayUnits * config.webhookRetryUnitMs;
        row("pending", new Date(attemptedAt.getTime() + durationMs + delayMs), null);
        retries.push({ run: s.run, delayMs });
      }
    }
    if (recorded.length > 0) {
      // One JSON parameter and one statement text whatever the batch's size: the attempts logged
      // and the deliveries' states written together.
      const a = webhookAttempts;
      const d = webhookDeliveries;
      const col = (c: { name: string }) => sql.identifier(c.name);
      await tx.execute(
        sql`with v as (
              select * from jsonb_to_recordset(${JSON.stringify(recorded)}::jsonb) as x(id uuid, attempt_count int, attempted_at timestamptz,
                status_code int, response_body text, duration_ms int, error text, manual boolean, status text, next_attempt_at timestamptz, completed_at timestamptz)
            ), logged as (
              insert into ${a} (${col(a.deliveryId)}, ${col(a.attemptedAt)}, ${col(a.statusCode)}, ${col(a.responseBody)}, ${col(a.durationMs)}, ${col(a.error)}, ${col(a.manual)})
              select id, attempted_at, status_code, response_body, duration_ms, error, manual from v
            )
            update ${d} set ${col(d.attemptCount)} = v.attempt_count, ${col(d.lastAttemptAt)} = v.attempted_at, ${col(d.lastStatusCode)} = v.status_code,
                   ${col(d.status)} = v.status, ${col(d.nextAttemptAt)} = v.next_attempt_at, ${col(d.completedAt)} = v.completed_at
            from v where ${d.id} = v.id`,
      );
    }
    for (const [endpointId, at] of gone) {
      await tx
        .update(webhookEndpoints)
        .set({ enabled: false, disabledReason: `The receiver answered 410 Gone on ${at.toISOString()}`, updatedAt: new Date() })
        .where(eq(webhookEndpoints.id, endpointId));
    }
    await run.completeAll(tx, done);
    for (const r of retries) await r.run.reschedule(tx, r.delayMs);
    for (const r of unsent) await r.reschedule(tx, 0);
  });
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
