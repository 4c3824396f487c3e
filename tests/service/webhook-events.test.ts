import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { Webhook as Verifier } from "standardwebhooks";
import { rows } from "../../db/client";
import { usageUnpricedNotices, webhookEndpoints } from "../../db/schema";
import type { Config } from "../../server/config";
import type { Ctx } from "../../server/context";
import { type JobRunner, startJobRunner } from "../../server/jobs/runner";
import { invoicingSettingsFields } from "../../server/modules/invoices/schema";
import * as invoices from "../../server/modules/invoices/service";
import * as events from "../../server/modules/events/service";
import { TEST_EVENT_TYPE, webhookCreateInput } from "../../server/modules/webhooks/schema";
import * as webhooks from "../../server/modules/webhooks/service";
import { ctxFor, TEST_CONFIG, user } from "../support/actors";
import { event, ingest, putPrice } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { failure } from "../support/failures";
import { type Received, startReceiver } from "../support/webhook-receiver";
import { waitFor } from "../support/wait";

/**
 * The invoice and usage events (docs/guardrails.md, "Events"): `invoice.finalized` and
 * `invoice.voided` written in the finalizing or voiding transaction (manual and automatic), and
 * `usage.unpriced_model` once per model and UTC day, decided by the database. Every delivery is
 * received by a local receiver and verified with the `standardwebhooks` package.
 */

const database = await testDatabase({ max: 12 });
const db = database.db;
const config: Config = { ...TEST_CONFIG, webhookAllowPrivate: true, webhookRetryUnitMs: 0.02, webhookTimeoutMs: 5000, jobPollIntervalMs: 20, jobConcurrency: 4 };
const ctx: Ctx = { ...ctxFor(database, user("owner")), config };
const receiver = startReceiver();
let runner: JobRunner;
let secret = "";

type Body = { type: string; timestamp: string; data: any };
const verified = (r: Received) => new Verifier(secret).verify(r.body, r.headers) as Body;
/** Every delivery received so far of `type`, verified. */
const receivedOf = (type: string) => receiver.received.map(verified).filter((b) => b.type === type);
/** Events of `type` stored (one per change, whatever the number of endpoints). */
const storedOf = async (type: string) => rows<{ body: string }>(db, sql`select body from webhook_events where type = ${type}`);
const settle = async () => {
  // Every queued delivery attempted: no pending deliveries left.
  await waitFor("deliveries settled", async () => (await rows<{ n: string }>(db, sql`select count(*)::text as n from webhook_deliveries where status = 'pending'`))[0]!.n === "0");
};

beforeAll(async () => {
  // The job runner's own automatic close would finalize these tests' months on its own schedule.
  await invoices.settingsPut({ ctx, input: invoicingSettingsFields.parse({ auto_finalize_after_days: null }) });
  runner = startJobRunner({ database, config });
});
afterAll(async () => {
  await runner.stop(2000);
});
afterEach(async () => {
  await settle();
  await db.delete(webhookEndpoints);
  receiver.received.length = 0;
});

async function listen() {
  const created = await webhooks.create({ ctx, input: webhookCreateInput.parse({ url: receiver.url, event_types: ["invoice.finalized", "invoice.voided", "usage.unpriced_model"] }) });
  secret = created.secret;
}

describe("invoice events", () => {
  test("a finalize and a void each send exactly one event with the invoice as the API shows it; a refused finalize sends none", async () => {
    await listen();
    const org = await makeOrg(ctx, { billing_rate_per_agent: "30.00", created_at: "2025-04-01T00:00:00Z" });
    await makeAgent(ctx, { org_id: org.id, created_at: "2025-04-01T00:00:00Z" });
    const inv = await invoices.finalize({ ctx, input: { id: org.id, month: "2025-04" } });
    // Refused: already finalized, and a month that has not ended.
    expect((await failure(invoices.finalize({ ctx, input: { id: org.id, month: "2025-04" } }))).code).toBe("CONFLICT");
    const current = new Date().toISOString().slice(0, 7);
    expect((await failure(invoices.finalize({ ctx, input: { id: org.id, month: current } }))).code).toBe("CONFLICT");
    await waitFor("the finalized event", () => receivedOf("invoice.finalized").length >= 1);
    await settle();
    const finalized = receivedOf("invoice.finalized");
    expect(finalized.length).toBe(1);
    expect(finalized[0]!.data).toEqual({ invoice: inv });
    expect(finalized[0]!.data.invoice).toMatchObject({ number: inv.number, status: "finalized", total: "30.00" });
    expect(JSON.stringify(finalized[0])).not.toMatch(/cost|margin/);
    expect((await storedOf("invoice.finalized")).length).toBe(1);

    const voided = await invoices.void({ ctx, input: { number: inv.number!, reason: "wrong client" } });
    expect((await failure(invoices.void({ ctx, input: { number: inv.number!, reason: "again" } }))).code).toBe("CONFLICT");
    await waitFor("the voided event", () => receivedOf("invoice.voided").length >= 1);
    await settle();
    const sent = receivedOf("invoice.voided");
    expect(sent.length).toBe(1);
    expect(sent[0]!.data).toEqual({ invoice: voided });
    expect(sent[0]!.data.invoice).toMatchObject({ number: inv.number, status: "void", void_reason: "wrong client" });
    expect((await storedOf("invoice.voided")).length).toBe(1);
    expect(receivedOf("invoice.finalized").length).toBe(1);
  });

  test("the automatic close sends one invoice.finalized per invoice it issues", async () => {
    await listen();
    const before = (await storedOf("invoice.finalized")).length;
    for (let i = 0; i < 2; i++) {
      const org = await makeOrg(ctx, { billing_rate_per_agent: "8.00", created_at: "2025-10-01T00:00:00Z" });
      await makeAgent(ctx, { org_id: org.id, created_at: "2025-10-01T00:00:00Z" });
    }
    // The runner is stopped while automatic close is on, so only the two calls here finalize.
    await runner.stop(2000);
    await invoices.settingsPut({ ctx, input: invoicingSettingsFields.parse({ auto_finalize_after_days: 3 }) });
    const system = { ...ctxFor(database, { kind: "anonymous" }), config };
    const now = new Date("2025-12-03T12:00:00Z");
    const [one, two] = await Promise.all([invoices.autoClose(system, now), invoices.autoClose(system, now)]);
    await invoices.settingsPut({ ctx, input: invoicingSettingsFields.parse({ auto_finalize_after_days: null }) });
    runner = startJobRunner({ database, config });
    const issued = [...one, ...two].sort();
    expect(issued.length).toBeGreaterThanOrEqual(2);
    await waitFor("every automatic invoice's event", () => receivedOf("invoice.finalized").length >= issued.length);
    await settle();
    expect(receivedOf("invoice.finalized").map((b) => b.data.invoice.number).sort()).toEqual(issued);
    expect((await storedOf("invoice.finalized")).length - before).toBe(issued.length);
  });
});

describe("usage.unpriced_model", () => {
  const unique = () => `unpriced-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

  test("many batches of one unpriced model in a day, two ingestions at once: one event with the day's first event; the next day one more", async () => {
    await listen();
    const org = await makeOrg(ctx, { created_at: "2025-03-01T00:00:00Z" });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: "2025-03-01T00:00:00Z" });
    const model = unique();
    const first = event(agent.id, { model, occurred_at: "2025-03-10T00:05:00Z" });
    const batch = (hour: number) => Array.from({ length: 5 }, (_, i) => event(agent.id, { model, occurred_at: `2025-03-10T${String(hour).padStart(2, "0")}:${String(10 + i)}:00Z` }));
    // The first batch holds the day's earliest event, not as its first item.
    expect((await ingest(ctx, [...batch(1), first])).accepted).toBe(6);
    for (let h = 2; h < 6; h++) expect((await ingest(ctx, batch(h))).accepted).toBe(5);
    // Two ingestions at once, each of the model on a new day and on the first one again.
    const [a, b] = await Promise.all([
      ingest(ctx, [...batch(7), event(agent.id, { model, occurred_at: "2025-03-11T09:00:00Z" })]),
      ingest(ctx, [...batch(8), event(agent.id, { model, occurred_at: "2025-03-11T08:00:00Z" })]),
    ]);
    expect([a.accepted, b.accepted]).toEqual([6, 6]);
    await waitFor("two unpriced events", () => receivedOf("usage.unpriced_model").filter((e) => e.data.model === model).length >= 2);
    await settle();
    const sent = receivedOf("usage.unpriced_model").filter((e) => e.data.model === model).sort((x, y) => (x.data.day < y.data.day ? -1 : 1));
    expect(sent.length).toBe(2);
    expect(sent[0]!.data).toEqual({ model, day: "2025-03-10", first_event: { id: first.id, agent_id: agent.id, organization_id: org.id, occurred_at: "2025-03-10T00:05:00.000Z" } });
    expect(sent[1]!.data).toMatchObject({ model, day: "2025-03-11", first_event: { agent_id: agent.id, organization_id: org.id } });
    expect(await db.select({ day: usageUnpricedNotices.day }).from(usageUnpricedNotices).where(eq(usageUnpricedNotices.model, model)).orderBy(usageUnpricedNotices.day)).toEqual([
      { day: "2025-03-10" },
      { day: "2025-03-11" },
    ]);
    expect((await storedOf("usage.unpriced_model")).filter((r) => JSON.parse(r.body).data.model === model).length).toBe(2);
  });

  test("concurrent ingestions of a new unpriced model and day send it once", async () => {
    await listen();
    const org = await makeOrg(ctx, { created_at: "2025-03-01T00:00:00Z" });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: "2025-03-01T00:00:00Z" });
    const model = unique();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, n) => ingest(ctx, Array.from({ length: 4 }, (_, i) => event(agent.id, { model, occurred_at: `2025-03-12T1${n}:0${i}:00Z` })))),
    );
    expect(results.map((r) => r.accepted)).toEqual([4, 4, 4, 4, 4, 4]);
    await waitFor("the unpriced event", () => receivedOf("usage.unpriced_model").some((e) => e.data.model === model));
    await settle();
    expect(receivedOf("usage.unpriced_model").filter((e) => e.data.model === model).map((e) => e.data.day)).toEqual(["2025-03-12"]);
    expect((await storedOf("usage.unpriced_model")).filter((r) => JSON.parse(r.body).data.model === model).length).toBe(1);
  });

  test("priced events, and events that carry their own cost, send none; nor do refused events", async () => {
    await listen();
    const org = await makeOrg(ctx, { created_at: "2025-03-01T00:00:00Z" });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: "2025-03-01T00:00:00Z" });
    const priced = unique();
    await putPrice(ctx, { model: priced, effective_from: "2025-01-01", input_per_m: "3.00", output_per_m: "15.00" });
    const costed = unique();
    const res = await ingest(ctx, [
      event(agent.id, { model: priced, occurred_at: "2025-03-13T10:00:00Z" }),
      event(agent.id, { model: costed, cost_usd: "0.01", occurred_at: "2025-03-13T10:00:00Z" }),
    ]);
    expect(res).toMatchObject({ accepted: 2, unpriced: 0 });
    // Refused events (before the agent existed) are not stored and send nothing.
    const early = unique();
    expect((await ingest(ctx, [event(agent.id, { model: early, occurred_at: "2025-02-01T10:00:00Z" })])).accepted).toBe(0);
    // A marker event proves the deliveries above would have arrived by now.
    const marker = unique();
    await ingest(ctx, [event(agent.id, { model: marker, occurred_at: "2025-03-13T11:00:00Z" })]);
    await waitFor("the marker's event", () => receivedOf("usage.unpriced_model").some((e) => e.data.model === marker));
    await settle();
    expect(receivedOf("usage.unpriced_model").map((e) => e.data.model)).toEqual([marker]);
    expect(await db.select().from(usageUnpricedNotices).where(sql`${usageUnpricedNotices.model} in (${priced}, ${costed}, ${early})`)).toEqual([]);
  });
});

describe("deliveries in batches", () => {
  test("a burst larger than a batch: every delivery arrives and is recorded once, a failed one is retried alone with its webhook-id", async () => {
    const created = await webhooks.create({ ctx, input: webhookCreateInput.parse({ url: receiver.url, event_types: ["invoice.voided"] }) });
    secret = created.secret;
    const count = webhooks.DELIVERY_BATCH + 50;
    const failing = `burst ${count - 1}`;
    let refused = false;
    receiver.answer((_req, n) => {
      const body = receiver.received[n - 1]!.body;
      if (!refused && body.includes(`"${failing}"`)) {
        refused = true;
        return new Response("try again", { status: 500 });
      }
      return new Response("ok");
    });
    try {
      await db.transaction(async (tx) => {
        for (let i = 0; i < count; i++) await events.emit(tx, TEST_EVENT_TYPE, { endpoint_id: created.id, message: `burst ${i}` }, { endpointId: created.id });
      });
      await settle();
      const bodies = receiver.received.map((r) => ({ id: r.headers["webhook-id"]!, body: verified(r) }));
      // Every event once, and the refused one a second time with the same webhook-id and body.
      expect(new Set(bodies.map((b) => b.id)).size).toBe(count);
      expect(bodies.length).toBe(count + 1);
      const again = bodies.filter((b) => b.body.data.message === failing);
      expect(again.length).toBe(2);
      expect(again[0]!.id).toBe(again[1]!.id);
      const [state] = await rows<{ succeeded: number; attempts: number; retried: number }>(
        db,
        sql`select count(*) filter (where d.status = 'succeeded')::int as succeeded,
                   (select count(*)::int from webhook_attempts a join webhook_deliveries x on x.id = a.delivery_id where x.endpoint_id = ${created.id}) as attempts,
                   count(*) filter (where d.attempt_count = 2)::int as retried
              from webhook_deliveries d where d.endpoint_id = ${created.id}`,
      );
      expect(state).toEqual({ succeeded: count, attempts: count + 1, retried: 1 });
    } finally {
      receiver.answer(() => new Response("ok"));
    }
  });
});

describe("a batch's start budget", () => {
  test("to a receiver that never answers, a run starts no request after one timeout: the rest go back to the queue without an attempt", async () => {
    await runner.stop(2000);
    // One run at a time, a 300 ms request limit, and retries 5 s away so that the first run's
    // commit can be looked at alone.
    const slow: Config = { ...config, webhookTimeoutMs: 300, webhookRetryUnitMs: 1000, jobConcurrency: 1 };
    const created = await webhooks.create({ ctx, input: webhookCreateInput.parse({ url: receiver.url, event_types: ["invoice.voided"] }) });
    const count = webhooks.DELIVERY_IN_FLIGHT + 50;
    const hang = Promise.withResolvers<Response>();
    receiver.answer(() => hang.promise);
    const own = startJobRunner({ database, config: { ...slow } });
    try {
      await db.transaction(async (tx) => {
        for (let i = 0; i < count; i++) await events.emit(tx, TEST_EVENT_TYPE, { endpoint_id: created.id, message: `slow ${i}` }, { endpointId: created.id });
      });
      const attempts = async () =>
        rows<{ n: number; timed_out: number; counted: number }>(
          db,
          sql`select count(*)::int as n, count(*) filter (where a.error = 'Timed out after 300 ms')::int as timed_out,
                     (select coalesce(sum(d.attempt_count), 0)::int from webhook_deliveries d where d.endpoint_id = ${created.id}) as counted
                from webhook_attempts a join webhook_deliveries x on x.id = a.delivery_id where x.endpoint_id = ${created.id}`,
        );
      // The first run's record: the requests it started before its budget ran out, all timed out.
      await waitFor("the first run's attempts", async () => (await attempts())[0]!.n > 0);
      expect((await attempts())[0]).toEqual({ n: webhooks.DELIVERY_IN_FLIGHT, timed_out: webhooks.DELIVERY_IN_FLIGHT, counted: webhooks.DELIVERY_IN_FLIGHT });
      // The others were not attempted; later runs send them (every delivery attempted once, each attempt counted once).
      await waitFor("every delivery attempted", async () => (await attempts())[0]!.n >= count);
      await waitFor("every delivery recorded", async () => (await attempts())[0]!.counted >= count);
      const [after] = await attempts();
      expect(after).toEqual({ n: count, timed_out: count, counted: count });
    } finally {
      await own.stop(2000);
      hang.resolve(new Response("ok"));
      receiver.answer(() => new Response("ok"));
      await db.execute(sql`update webhook_deliveries set status = 'failed', next_attempt_at = null where endpoint_id = ${created.id} and status = 'pending'`);
      runner = startJobRunner({ database, config });
    }
  });
});
