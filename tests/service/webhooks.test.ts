import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { Webhook as Verifier } from "standardwebhooks";
import { rows } from "../../db/client";
import { webhookEndpoints } from "../../db/schema";
import type { Config } from "../../server/config";
import type { Ctx } from "../../server/context";
import { Permits } from "../../server/jobs/permits";
import { type JobRunner, ROW_QUEUE_RETRY_MS, startJobRunner } from "../../server/jobs/runner";
import * as agents from "../../server/modules/agents/service";
import { agentAssignInput, agentUpdateInput } from "../../server/modules/agents/schema";
import * as orgs from "../../server/modules/orgs/service";
import { orgToggleInput, orgUpdateInput } from "../../server/modules/orgs/schema";
import { webhookCreateInput, webhookDeliveriesInput, type WebhookDelivery } from "../../server/modules/webhooks/schema";
import * as webhooks from "../../server/modules/webhooks/service";
import { MAX_ATTEMPTS, RESPONSE_PREFIX_BYTES, RETRY_SCHEDULE_UNITS, UNLOGGABLE_ANSWER } from "../../server/modules/webhooks/service";
import { ctxFor, TEST_CONFIG, user } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { failure } from "../support/failures";
import { deadPort, type Received, startReceiver } from "../support/webhook-receiver";
import { waitFor } from "../support/wait";

/**
 * Outbound webhooks (docs/guardrails.md): events written in the transaction of the change they
 * report, delivered at least once with the same webhook-id on every attempt, signed per Standard
 * Webhooks — every signature here is checked by the `standardwebhooks` package, not by our code —
 * retried on the schedule (its unit shrunk to 0.02 ms so the whole schedule runs in about two
 * seconds), 410 disabling the endpoint, and no request to an address that is not allowed.
 *
 * Receivers are local (127.0.0.1), so these tests allow private receivers; the refusals are tested
 * with private receivers not allowed and with a resolver standing in for DNS.
 */

const database = await testDatabase({ max: 12 });
const db = database.db;
const config: Config = {
  ...TEST_CONFIG,
  webhookAllowPrivate: true,
  webhookRetryUnitMs: 0.02,
  // Generous: on PGlite the database shares this process's event loop with the receivers.
  webhookTimeoutMs: 5000,
  jobPollIntervalMs: 20,
  jobConcurrency: 4,
};
const owner: Ctx = { ...ctxFor(database, user("owner")), config };

const createEndpoint = (input: Record<string, unknown>, ctx: Ctx = owner) => webhooks.create({ ctx, input: webhookCreateInput.parse(input) });
const log = async (endpointId: string): Promise<WebhookDelivery[]> =>
  (await webhooks.deliveries({ ctx: owner, input: webhookDeliveriesInput.parse({ id: endpointId, limit: 100 }) })).deliveries;
const verified = (secret: string, r: Received) => new Verifier(secret).verify(r.body, r.headers) as { type: string; timestamp: string; data: any };
const settled = (endpointId: string, n = 1) =>
  waitFor(`${n} settled deliveries`, async () => {
    const found = await log(endpointId);
    return found.filter((d) => d.status !== "pending").length >= n ? found : null;
  });

async function expectAppError(promise: Promise<unknown>, code: string) {
  const err = await failure(promise);
  expect(err.code).toBe(code as never);
  return err;
}

// Endpoints receive every event unless filtered: each test starts without any.
afterEach(async () => {
  await db.delete(webhookEndpoints);
});

describe("endpoints", () => {
  test("creating an endpoint returns its whsec_ secret once; it is stored sealed and never read back", async () => {
    const created = await createEndpoint({ url: "https://hooks.example.com/orgdesk", description: "Finance", event_types: ["agent.assigned"] });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.event_types).toEqual(["agent.assigned"]);
    const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, created.id));
    expect(row!.secretSealed.startsWith("v1:")).toBe(true);
    expect(row!.secretSealed).not.toContain(created.secret.slice(6, 20));
    const listed = await webhooks.list({ ctx: owner });
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    expect(listed.webhooks.map((w) => w.id)).toEqual([created.id]);
    expect(JSON.stringify(await webhooks.get({ ctx: owner, input: { id: created.id } }))).not.toContain("whsec_");
  });

  test("a receiver must be https at a public address unless private receivers are allowed", async () => {
    const strict: Ctx = { ...owner, config: { ...config, webhookAllowPrivate: false } };
    const refused = [
      ["http://hooks.example.com/x", "must use https"],
      ["https://127.0.0.1/x", "loopback"],
      ["https://localhost:8443/x", "loopback"],
      ["https://10.1.2.3/x", "private"],
      ["https://192.168.0.10/x", "private"],
      ["https://169.254.169.254/latest/meta-data", "link-local"],
      ["https://100.100.100.200/x", "carrier-grade NAT"],
      ["https://[::1]/x", "loopback"],
      ["https://[::ffff:127.0.0.1]/x", "loopback"],
      ["https://[fd00:ec2::254]/x", "private"],
      ["https://0x7f000001/x", "loopback"],
      ["https://user:pass@hooks.example.com/x", "credentials"],
      ["not a url", "not a valid URL"],
    ] as const;
    for (const [url, why] of refused) {
      const err = await expectAppError(createEndpoint({ url }, strict), "VALIDATION");
      expect({ url, errors: err.errors }).toEqual({ url, errors: [{ path: "url", message: expect.stringContaining(why) }] });
    }
    expect((await createEndpoint({ url: "https://hooks.example.com/x" }, strict)).url).toBe("https://hooks.example.com/x");
    // Allowed for tests and on-premises receivers.
    expect((await createEndpoint({ url: "http://127.0.0.1:9/x" })).url).toBe("http://127.0.0.1:9/x");
    expect(await rows(db, sql`select 1 from webhook_endpoints where url like '%10.1.2.3%'`)).toEqual([]);
  });

  test("only platform owners and admins manage webhooks", async () => {
    const org = await makeOrg(owner);
    for (const principal of [user("member"), user("viewer"), user("admin", org.id), user("owner", org.id)]) {
      await expectAppError(webhooks.list({ ctx: { ...owner, principal } }), "FORBIDDEN");
      await expectAppError(createEndpoint({ url: "https://hooks.example.com/x" }, { ...owner, principal }), "FORBIDDEN");
    }
    expect((await webhooks.list({ ctx: { ...owner, principal: user("admin") } })).webhooks).toEqual([]);
  });

  test("without SECRETS_KEY no endpoint can be created; with another key, attempts are not sent and say why", async () => {
    await expectAppError(createEndpoint({ url: "https://hooks.example.com/x" }, { ...owner, config: { ...config, secretsKey: undefined } }), "UNAVAILABLE");
    const receiver = startReceiver();
    await createEndpoint({ url: receiver.url });
    const otherKey: Config = { ...config, secretsKey: new Uint8Array(32).fill(9) };
    const runner = startJobRunner({ database, config: otherKey });
    try {
      const org = await makeOrg(owner);
      const [endpoint] = (await webhooks.list({ ctx: owner })).webhooks;
      const [delivery] = await waitFor("the first attempt", async () => {
        const found = await log(endpoint!.id);
        return found[0]?.attempts.length ? found : null;
      });
      expect(delivery!.attempts[0]!.error).toContain("SECRETS_KEY is not the key it was sealed with");
      expect(receiver.received).toEqual([]);
      expect(org.id).toBeTruthy();
    } finally {
      await runner.stop(1000);
    }
  });
});

describe("events are written in the transaction of the change", () => {
  test("a rolled-back change leaves no event; a committed one has one delivery per endpoint that receives it", async () => {
    const all = await createEndpoint({ url: "http://127.0.0.1:9/all" });
    const filtered = await createEndpoint({ url: "http://127.0.0.1:9/filtered", event_types: ["agent.assigned"] });
    const name = `Rolled Back ${Date.now()}`;
    const counts = async () =>
      rows(db, sql`select (select count(*)::int from webhook_events) as events, (select count(*)::int from webhook_deliveries) as deliveries`);
    const before = await counts();
    // The real service, inside an outer transaction that then fails.
    await db
      .transaction(async (outer) => {
        await orgs.create({ ctx: { ...owner, db: outer }, input: { name } as never });
        throw new Error("the surrounding work fails");
      })
      .catch(() => {});
    expect(await rows(db, sql`select 1 from organizations where name = ${name}`)).toEqual([]);
    expect(await counts()).toEqual(before);
    await db.execute(sql`delete from webhook_events`);

    const org = await makeOrg(owner, { name: `Committed ${Date.now()}` });
    const events = await rows<{ id: string; type: string; body: string }>(db, sql`select id, type, body from webhook_events`);
    expect(events.map((e) => e.type)).toEqual(["organization.created"]);
    expect(JSON.parse(events[0]!.body).data.organization.id).toBe(org.id);
    expect((await log(all.id)).map((d) => d.event_id)).toEqual([events[0]!.id]);
    expect(await log(filtered.id)).toEqual([]);
    // The delivery is its own queue entry: pending, due now, not claimed; no job per delivery.
    const due = await rows<{ id: string }>(
      db,
      sql`select id from webhook_deliveries where status = 'pending' and next_attempt_at <= now() and claim_token is null and claimed_until is null`,
    );
    expect(due.map((d) => d.id)).toEqual((await log(all.id)).map((d) => d.id));
    expect(await rows(db, sql`select kind from jobs where payload ? 'delivery_id'`)).toEqual([]);
  });

  test("no change commits without its event: when the event cannot be written, the change fails too", async () => {
    await createEndpoint({ url: "http://127.0.0.1:9/all" });
    await db.execute(sql`create function test_refuse_event() returns trigger language plpgsql as $$ begin raise exception 'event store unavailable'; end $$`);
    await db.execute(sql`create trigger test_refuse_event before insert on webhook_events for each row execute function test_refuse_event()`);
    try {
      const name = `Without Event ${Date.now()}`;
      await expect(makeOrg(owner, { name })).rejects.toThrow();
      expect(await rows(db, sql`select 1 from organizations where name = ${name}`)).toEqual([]);
    } finally {
      await db.execute(sql`drop trigger test_refuse_event on webhook_events`);
      await db.execute(sql`drop function test_refuse_event()`);
    }
  });

  test("changes nobody subscribes to write no event at all", async () => {
    await createEndpoint({ url: "http://127.0.0.1:9/x", event_types: ["invoice.finalized"] });
    const before = await rows(db, sql`select id from webhook_events`);
    await makeOrg(owner);
    expect(await rows(db, sql`select id from webhook_events`)).toEqual(before);
  });
});

describe("deliveries", () => {
  let runner: JobRunner;
  beforeAll(() => {
    runner = startJobRunner({ database, config });
  });
  afterAll(async () => {
    await runner.stop(2000);
  });

  test("every organization and agent change arrives as its event, signed per Standard Webhooks", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url });
    const onlyMoves = startReceiver();
    const moves = await createEndpoint({ url: onlyMoves.url, event_types: ["agent.assigned", "agent.unassigned"] });

    const org = await makeOrg(owner, { name: "Hooked Client", billing_rate_per_agent: "100.00" });
    await orgs.update({ ctx: owner, input: orgUpdateInput.parse({ id: org.id, name: "Hooked Client Ltd" }) });
    await orgs.update({ ctx: owner, input: orgUpdateInput.parse({ id: org.id, billing_rate_per_agent: "120.00" }) });
    await orgs.toggle({ ctx: owner, input: orgToggleInput.parse({ id: org.id, is_active: false }) });
    await orgs.toggle({ ctx: owner, input: orgToggleInput.parse({ id: org.id, is_active: true }) });
    const other = await makeOrg(owner, { name: "Second Client" });
    const agent = await makeAgent(owner, { org_id: org.id, name: "Hooked Agent" });
    await agents.update({ ctx: owner, input: agentUpdateInput.parse({ id: agent.id, description: "answers the phone" }) });
    await agents.update({ ctx: owner, input: agentUpdateInput.parse({ id: agent.id, billing_rate: "80.00" }) });
    await agents.assign({ ctx: owner, input: agentAssignInput.parse({ id: agent.id, org_id: other.id }) });
    await agents.unassign({ ctx: owner, input: { id: agent.id } as never });
    await orgs.delete({ ctx: owner, input: { id: other.id } });

    const expected = [
      "organization.created",
      "organization.updated",
      "organization.updated",
      "organization.deactivated",
      "organization.activated",
      "organization.created",
      "agent.created",
      "agent.updated",
      "agent.rate_changed",
      "agent.assigned",
      "agent.unassigned",
      "organization.deleted",
    ];
    await waitFor("every event to arrive", () => receiver.received.length >= expected.length && onlyMoves.received.length >= 2);
    await settled(endpoint.id, expected.length);
    const payloads = receiver.received.map((r) => verified(endpoint.secret, r));
    // Deliveries run in parallel: compare as sorted lists, then look at each kind.
    expect(payloads.map((p) => p.type).sort()).toEqual([...expected].sort());
    expect(receiver.received.map((r) => r.headers["content-type"])).toEqual(expected.map(() => "application/json"));
    const byType = (type: string) => payloads.filter((p) => p.type === type);
    expect(byType("organization.created").map((p) => p.data.organization.name).sort()).toEqual(["Hooked Client", "Second Client"]);
    const renamed = byType("organization.updated").find((p) => p.data.changes.after.name)!;
    expect(renamed.data.organization.name).toBe("Hooked Client Ltd");
    expect(renamed.data.changes).toEqual({ before: { name: "Hooked Client" }, after: { name: "Hooked Client Ltd" } });
    const repriced = byType("organization.updated").find((p) => p.data.changes.after.billing_rate_per_agent)!;
    expect(repriced.data.changes.after.billing_rate_per_agent).toBe("120.00");
    expect(byType("organization.deactivated")[0]!.data.organization).toMatchObject({ id: org.id, is_active: false });
    expect(byType("organization.activated")[0]!.data.organization).toMatchObject({ id: org.id, is_active: true });
    expect(byType("agent.created")[0]!.data.agent).toMatchObject({ id: agent.id, name: "Hooked Agent", org_id: org.id });
    expect(byType("agent.rate_changed")[0]!.data).toMatchObject({ agent: { id: agent.id, billing_rate: "80.00" }, changes: { after: { billing_rate: "80.00" } } });
    expect(byType("agent.assigned")[0]!.data).toMatchObject({ agent: { id: agent.id, org_id: other.id }, previous_organization_id: org.id, organization_id: other.id });
    expect(byType("agent.unassigned")[0]!.data).toMatchObject({ previous_organization_id: other.id, agent: { id: agent.id } });
    expect(byType("organization.deleted")[0]!.data.organization).toMatchObject({ id: other.id, name: "Second Client" });
    for (const p of payloads) expect(Number.isNaN(Date.parse(p.timestamp))).toBe(false);
    // The webhook-id is the event's id: the same for both endpoints.
    expect(onlyMoves.received.map((r) => verified(moves.secret, r).type).sort()).toEqual(["agent.assigned", "agent.unassigned"]);
    const moveIds = onlyMoves.received.map((r) => r.headers["webhook-id"]).sort();
    expect(receiver.received.filter((r) => moveIds.includes(r.headers["webhook-id"]!)).length).toBe(2);
    // Another secret does not verify.
    expect(() => verified(moves.secret, receiver.received[0]!)).toThrow();
  });

  test("a compressed answer is read only up to the logged prefix, however small its Content-Length", async () => {
    // 1 MB of text in a gzip body of about 1 KB: its Content-Length fits the prefix, what it inflates to does not.
    const packed = Bun.gzipSync(new TextEncoder().encode("y".repeat(1_000_000)));
    expect(packed.byteLength).toBeLessThan(RESPONSE_PREFIX_BYTES * 2);
    const receiver = startReceiver(() => new Response(packed, { status: 200, headers: { "content-encoding": "gzip", "content-length": String(packed.byteLength) } }));
    const endpoint = await createEndpoint({ url: receiver.url });
    await makeOrg(owner);
    const [delivery] = await settled(endpoint.id);
    expect(delivery!.status).toBe("succeeded");
    expect(delivery!.attempts.at(-1)!.response_body).toBe("y".repeat(RESPONSE_PREFIX_BYTES));
  });

  test("an answer with NUL characters (PostgreSQL text cannot hold them) is logged without them; the delivery succeeds once and its batch's other deliveries too", async () => {
    const nul = startReceiver(() => new Response("ok\u0000then\u0000more", { status: 200 }));
    const plain = startReceiver();
    const first = await createEndpoint({ url: nul.url });
    const second = await createEndpoint({ url: plain.url });
    await makeOrg(owner);
    const [delivery] = await settled(first.id);
    const [other] = await settled(second.id);
    expect(delivery!.status).toBe("succeeded");
    expect(delivery!.attempts).toHaveLength(1);
    expect(delivery!.attempts[0]!.response_body).toBe("ok\uFFFDthen\uFFFDmore");
    expect(other!.status).toBe("succeeded");
    // Sent once each: the batch was recorded, not given back and sent again.
    await Bun.sleep(ROW_QUEUE_RETRY_MS + 500);
    expect(nul.received).toHaveLength(1);
    expect(plain.received).toHaveLength(1);
  });

  test("an answer the database refuses to store does not make the delivery be sent again without end: its attempts are counted on the schedule, logged without the answer", async () => {
    // Stands in for any answer PostgreSQL will not take: the attempt log refuses this one.
    await db.execute(sql`create function refuse_poison() returns trigger language plpgsql as $$
      begin
        if new.response_body like '%poison answer%' then raise exception 'this answer cannot be stored'; end if;
        return new;
      end $$`);
    await db.execute(sql`create trigger refuse_poison before insert on webhook_attempts for each row execute function refuse_poison()`);
    try {
      const receiver = startReceiver(() => new Response("a poison answer", { status: 500 }));
      const endpoint = await createEndpoint({ url: receiver.url });
      await makeOrg(owner);
      const [delivery] = await settled(endpoint.id);
      expect(delivery!.status).toBe("failed");
      expect(delivery!.attempt_count).toBe(MAX_ATTEMPTS);
      expect(delivery!.attempts).toHaveLength(MAX_ATTEMPTS);
      for (const a of delivery!.attempts) expect(a).toMatchObject({ status_code: 500, response_body: null, error: UNLOGGABLE_ANSWER });
      // Sent once per attempt of the schedule, never again after it.
      await Bun.sleep(ROW_QUEUE_RETRY_MS + 500);
      expect(receiver.received).toHaveLength(MAX_ATTEMPTS);
    } finally {
      await db.execute(sql`drop trigger refuse_poison on webhook_attempts`);
      await db.execute(sql`drop function refuse_poison()`);
    }
  });

  test("a receiver answering 500 gets every attempt of the schedule with the same webhook-id and body, then the delivery fails", async () => {
    const receiver = startReceiver(() => new Response("x".repeat(3000), { status: 500 }));
    const endpoint = await createEndpoint({ url: receiver.url });
    await makeOrg(owner);
    const [delivery] = await settled(endpoint.id);
    expect(delivery!.status).toBe("failed");
    expect(delivery!.attempt_count).toBe(MAX_ATTEMPTS);
    expect(MAX_ATTEMPTS).toBe(8);
    expect(receiver.received).toHaveLength(8);
    expect(new Set(receiver.received.map((r) => r.headers["webhook-id"]))).toEqual(new Set([delivery!.event_id]));
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    for (const r of receiver.received) verified(endpoint.secret, r);
    // The gaps follow the schedule (5, 300, 1800, … units); lower bounds only, the machine may be slower.
    const gaps = receiver.received.slice(1).map((r, i) => r.at - receiver.received[i]!.at);
    RETRY_SCHEDULE_UNITS.forEach((units, i) => expect({ i, gap: gaps[i]! >= units * config.webhookRetryUnitMs - 5 }).toEqual({ i, gap: true }));
    expect(gaps[6]! + gaps[5]!).toBeGreaterThan(gaps[0]! + gaps[1]!);
    expect(delivery!.attempts).toHaveLength(8);
    for (const a of delivery!.attempts) {
      expect(a.status_code).toBe(500);
      expect(a.response_body).toBe("x".repeat(1024));
      expect(a.duration_ms).toBeGreaterThanOrEqual(0);
      expect(a.manual).toBe(false);
    }
    expect(delivery!.next_attempt_at).toBeNull();
  });

  test("a receiver that times out, or is down, is retried until an attempt succeeds, always with the same webhook-id", async () => {
    const short: Config = { ...config, webhookTimeoutMs: 600 };
    await runner.stop(2000);
    runner = startJobRunner({ database, config: short });
    const slow = startReceiver(async (_req, n) => {
      if (n === 1) await Bun.sleep(short.webhookTimeoutMs + 1000);
      return new Response("thanks");
    });
    const slowEndpoint = await createEndpoint({ url: slow.url, event_types: ["organization.created"] });
    const port = await deadPort();
    const downEndpoint = await createEndpoint({ url: `http://127.0.0.1:${port}/hook`, event_types: ["organization.created"] });
    await makeOrg(owner);

    // The receiver that is down: bring it up after the first refused attempt.
    await waitFor("a refused attempt", async () => (await log(downEndpoint.id))[0]?.attempts.length);
    const revived = Bun.serve({ port, hostname: "127.0.0.1", fetch: async (req) => new Response(`got ${req.headers.get("webhook-id")}`) });
    try {
      const [down] = await settled(downEndpoint.id);
      expect(down!.status).toBe("succeeded");
      expect(down!.attempts[0]!.status_code).toBeNull();
      expect(down!.attempts[0]!.error).toMatch(/refused|ECONNREFUSED|connect/i);
      expect(down!.attempts.at(-1)!.response_body).toBe(`got ${down!.event_id}`);
    } finally {
      revived.stop(true);
    }

    const [timedOut] = await settled(slowEndpoint.id);
    expect(timedOut!.status).toBe("succeeded");
    expect(timedOut!.attempts.map((a) => a.status_code)).toEqual([null, 200]);
    expect(timedOut!.attempts[0]!.error).toBe(`Timed out after ${short.webhookTimeoutMs} ms`);
    await waitFor("the slow first request to be recorded", () => slow.received.length === 2);
    expect(slow.received.map((r) => r.headers["webhook-id"])).toEqual([timedOut!.event_id, timedOut!.event_id]);
    for (const r of slow.received) verified(slowEndpoint.secret, r);
    await runner.stop(2000);
    runner = startJobRunner({ database, config });
  });

  test("a 410 disables the endpoint: no more attempts, and later events are not sent to it", async () => {
    const receiver = startReceiver(() => new Response("gone", { status: 410 }));
    const endpoint = await createEndpoint({ url: receiver.url });
    await makeOrg(owner);
    const [delivery] = await settled(endpoint.id);
    expect(delivery!.status).toBe("failed");
    expect(delivery!.attempts.map((a) => a.status_code)).toEqual([410]);
    const after = await webhooks.get({ ctx: owner, input: { id: endpoint.id } });
    expect(after.enabled).toBe(false);
    expect(after.disabled_reason).toContain("410");
    await makeOrg(owner);
    await Bun.sleep(200);
    expect(await log(endpoint.id)).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
    // A retry of its deliveries is refused until it is enabled again, which clears the reason.
    await expectAppError(webhooks.retry({ ctx: owner, input: { id: delivery!.id } }), "CONFLICT");
    const enabled = await webhooks.update({ ctx: owner, input: { id: endpoint.id, enabled: true } as never });
    expect(enabled).toMatchObject({ enabled: true, disabled_reason: null });
  });

  test("redirects are not followed: the 3xx is the attempt's answer, and the Location is never requested", async () => {
    const target = startReceiver();
    const receiver = startReceiver(() => new Response(null, { status: 302, headers: { location: target.url } }));
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    await makeOrg(owner);
    await waitFor("two attempts", async () => ((await log(endpoint.id))[0]?.attempts.length ?? 0) >= 2);
    const [delivery] = await log(endpoint.id);
    expect(delivery!.attempts[0]!.status_code).toBe(302);
    expect(delivery!.attempts[0]!.error).toBe(`Redirects are not followed (Location: ${target.url})`);
    expect(target.received).toEqual([]);
    await db.delete(webhookEndpoints);
  });

  test("after a secret rotation both secrets sign for the overlap, then only the new one", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    const rotated = await webhooks.rotateSecret({ ctx: owner, input: { id: endpoint.id } });
    expect(rotated.secret).not.toBe(endpoint.secret);
    expect(Date.parse(rotated.previous_secret_expires_at!) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
    await makeOrg(owner);
    await waitFor("the delivery", () => receiver.received.length === 1);
    expect(receiver.received[0]!.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(verified(rotated.secret, receiver.received[0]!).type).toBe("organization.created");
    expect(verified(endpoint.secret, receiver.received[0]!).type).toBe("organization.created");

    await db.update(webhookEndpoints).set({ previousSecretExpiresAt: new Date(Date.now() - 1000) }).where(eq(webhookEndpoints.id, endpoint.id));
    await makeOrg(owner);
    await waitFor("the second delivery", () => receiver.received.length === 2);
    expect(verified(rotated.secret, receiver.received[1]!).type).toBe("organization.created");
    expect(() => verified(endpoint.secret, receiver.received[1]!)).toThrow();
  });

  test("a test event reaches its endpoint whatever it subscribes to, also while it is disabled", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["invoice.voided"], enabled: false });
    const queued = await webhooks.sendTest({ ctx: owner, input: { id: endpoint.id } });
    expect(queued).toMatchObject({ status: "pending", event_type: "webhook.test", attempts: [] });
    await waitFor("the test event", () => receiver.received.length === 1);
    const payload = verified(endpoint.secret, receiver.received[0]!);
    expect(payload).toMatchObject({ type: "webhook.test", data: { endpoint_id: endpoint.id } });
    const [delivery] = await settled(endpoint.id);
    expect(delivery!.status).toBe("succeeded");
  });

  test("a failed delivery can be retried by hand: one more attempt, same webhook-id, marked manual", async () => {
    const receiver = startReceiver(() => new Response("down for maintenance", { status: 503 }));
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    await makeOrg(owner);
    const [failed] = await settled(endpoint.id);
    expect(failed!.status).toBe("failed");
    receiver.answer(() => new Response("back"));
    const retried = await webhooks.retry({ ctx: owner, input: { id: failed!.id } });
    expect(retried.status).toBe("pending");
    const [done] = await settled(endpoint.id);
    expect(done!.status).toBe("succeeded");
    expect(done!.attempts).toHaveLength(MAX_ATTEMPTS + 1);
    expect(done!.attempts.at(-1)).toMatchObject({ status_code: 200, manual: true, response_body: "back" });
    expect(receiver.received.at(-1)!.headers["webhook-id"]).toBe(failed!.event_id);
    verified(endpoint.secret, receiver.received.at(-1)!);
    await expectAppError(webhooks.retry({ ctx: owner, input: { id: crypto.randomUUID() } }), "NOT_FOUND");
  });

  test("the delivery log pages newest first and filters by status", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    for (let i = 0; i < 5; i++) await makeOrg(owner);
    await settled(endpoint.id, 5);
    const first = await webhooks.deliveries({ ctx: owner, input: webhookDeliveriesInput.parse({ id: endpoint.id, limit: 3 }) });
    const second = await webhooks.deliveries({ ctx: owner, input: webhookDeliveriesInput.parse({ id: endpoint.id, limit: 3, cursor: first.next_cursor }) });
    expect(first.deliveries).toHaveLength(3);
    expect(second.deliveries).toHaveLength(2);
    expect(second.next_cursor).toBeNull();
    const all = [...first.deliveries, ...second.deliveries];
    expect(new Set(all.map((d) => d.id)).size).toBe(5);
    const created = all.map((d) => Date.parse(d.created_at));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    expect((await webhooks.deliveries({ ctx: owner, input: webhookDeliveriesInput.parse({ id: endpoint.id, status: "failed" }) })).deliveries).toEqual([]);
    await expectAppError(webhooks.deliveries({ ctx: owner, input: webhookDeliveriesInput.parse({ id: endpoint.id, cursor: "bogus" }) }), "VALIDATION");
  });

  test("deleting an endpoint drops its delivery log, and attempts still queued for it send nothing", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url });
    await runner.stop(2000);
    try {
      await makeOrg(owner);
      expect(await log(endpoint.id)).toHaveLength(1);
      await webhooks.delete({ ctx: owner, input: { id: endpoint.id } });
      await expectAppError(webhooks.get({ ctx: owner, input: { id: endpoint.id } }), "NOT_FOUND");
    } finally {
      runner = startJobRunner({ database, config });
    }
    // Its deliveries went with it: nothing is left to claim, and a running runner sends nothing.
    expect(await rows(db, sql`select 1 from webhook_deliveries where endpoint_id = ${endpoint.id}`)).toEqual([]);
    await Bun.sleep(200);
    expect(receiver.received).toEqual([]);
  });
});

describe("retention", () => {
  test("settled deliveries older than the retention are deleted with their attempts and events; pending ones stay", async () => {
    const endpoint = await createEndpoint({ url: "http://127.0.0.1:9/x", event_types: ["organization.created"] });
    for (let i = 0; i < 3; i++) await makeOrg(owner);
    const [oldSettled, recentSettled, oldPending] = (await log(endpoint.id)).map((d) => d.id);
    await db.execute(sql`update webhook_deliveries set status = 'succeeded', completed_at = now() - interval '31 days' where id = ${oldSettled}`);
    await db.execute(sql`update webhook_deliveries set status = 'failed', completed_at = now() - interval '29 days' where id = ${recentSettled}`);
    await db.execute(sql`update webhook_events set created_at = now() - interval '40 days'`);
    await db.execute(sql`insert into webhook_attempts (delivery_id, duration_ms) values (${oldSettled}, 5)`);
    expect(await webhooks.prune(owner)).toBe(1);
    expect((await log(endpoint.id)).map((d) => d.id).sort()).toEqual([recentSettled!, oldPending!].sort());
    expect(await rows(db, sql`select 1 from webhook_attempts where delivery_id = ${oldSettled}`)).toEqual([]);
    const events = await rows<{ n: number }>(db, sql`select count(*)::int as n from webhook_events`);
    expect(Number(events[0]!.n)).toBe(2);
  });
});

describe("claims: a delivery is its own queue entry", () => {
  const claim = (leaseMs: number) => webhooks.claimDue(db, { token: crypto.randomUUID(), leaseMs });
  const pending = () => rows<{ status: string; attempt_count: number; claim_token: string | null }>(db, sql`select status, attempt_count, claim_token from webhook_deliveries`);

  test("a claimed delivery is not claimed again while its lease lasts; once it runs out it is, and only the newer claim records the attempt", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    await makeOrg(owner);
    const first = await claim(60_000);
    expect(first?.batch.deliveries).toHaveLength(1);
    // Held: a second claim (another instance) finds nothing due.
    expect(await claim(60_000)).toBeNull();
    // The first claim's lease runs out (its instance died): the delivery is due again.
    await db.execute(sql`update webhook_deliveries set claimed_until = now() - interval '1 second' where claim_token = ${first!.batch.token}::uuid`);
    const second = await claim(60_000);
    expect(second?.batch.deliveries.map((d) => d.id)).toEqual(first!.batch.deliveries.map((d) => d.id));
    // The first batch finishes late: its POST went out, but its claim is gone, so nothing of it is recorded.
    await webhooks.deliver(owner, first!.batch, new AbortController().signal);
    expect(await pending()).toEqual([{ status: "pending", attempt_count: 0, claim_token: second!.batch.token }]);
    await webhooks.deliver(owner, second!.batch, new AbortController().signal);
    expect(await pending()).toEqual([{ status: "succeeded", attempt_count: 1, claim_token: null }]);
    const [delivery] = await log(endpoint.id);
    expect(delivery!.attempts).toHaveLength(1);
    // At least once: the receiver saw both POSTs, with the same webhook-id.
    expect(receiver.received.map((r) => r.headers["webhook-id"])).toEqual([delivery!.event_id, delivery!.event_id]);
  });

  test("an endpoint deleted while its batch is in flight: the batch records nothing for it and does not fail", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    await makeOrg(owner);
    const claimed = await claim(60_000);
    await webhooks.delete({ ctx: owner, input: { id: endpoint.id } });
    await webhooks.deliver(owner, claimed!.batch, new AbortController().signal);
    expect(await rows(db, sql`select 1 from webhook_attempts`)).toEqual([]);
    expect(receiver.received).toHaveLength(1);
  });

  test("a batch given back (its run threw or its instance stopped) is due again without an attempt counted", async () => {
    await createEndpoint({ url: "http://127.0.0.1:9/x", event_types: ["organization.created"] });
    await makeOrg(owner);
    const claimed = await claim(60_000);
    await webhooks.release(db, claimed!.batch.token, 0);
    expect(await pending()).toEqual([{ status: "pending", attempt_count: 0, claim_token: null }]);
    expect((await claim(60_000))?.batch.deliveries.map((d) => d.id)).toEqual(claimed!.batch.deliveries.map((d) => d.id));
  });

  test("batches sharing the runner's permits: never more requests in flight than permits, the older batch's all started before the younger's first, each recording its own", async () => {
    let inFlight = 0;
    let most = 0;
    const receiver = startReceiver(async () => {
      most = Math.max(most, ++inFlight);
      await Bun.sleep(15);
      inFlight--;
      return new Response("ok");
    });
    await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    for (let i = 0; i < 16; i++) await makeOrg(owner);
    const claimEight = () => webhooks.claimDue(db, { token: crypto.randomUUID(), leaseMs: 60_000, limit: 8 });
    const older = (await claimEight())!.batch;
    const younger = (await claimEight())!.batch;
    const permits = new Permits(3);
    let dispatched = 0;
    const signal = new AbortController().signal;
    await Promise.all([
      webhooks.deliver(owner, older, signal, { permits: permits.forBatch(1), dispatched: () => dispatched++ }),
      webhooks.deliver(owner, younger, signal, { permits: permits.forBatch(2), dispatched: () => dispatched++ }),
    ]);
    expect(most).toBe(3);
    expect(dispatched).toBe(2);
    expect(permits.held).toBe(0);
    expect(receiver.received).toHaveLength(16);
    // Each attempt's time is taken as it starts: the older batch's last before the younger's first.
    const attempts = await rows<{ delivery_id: string; attempted_at: Date | string }>(db, sql`select delivery_id, attempted_at from webhook_attempts`);
    const startedAt = (batch: webhooks.DeliveryBatch) =>
      attempts.filter((a) => batch.deliveries.some((d) => d.id === a.delivery_id)).map((a) => new Date(a.attempted_at).getTime());
    expect(startedAt(older)).toHaveLength(8);
    expect(startedAt(younger)).toHaveLength(8);
    expect(Math.max(...startedAt(older))).toBeLessThanOrEqual(Math.min(...startedAt(younger)));
    expect(await pending()).toEqual(Array.from({ length: 16 }, () => ({ status: "succeeded", attempt_count: 1, claim_token: null })));
  });

  test("a batch stopped while its workers wait for permits leaves the queue at once: it takes no permit and sends nothing", async () => {
    const receiver = startReceiver();
    await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    for (let i = 0; i < 4; i++) await makeOrg(owner);
    const stopped = (await webhooks.claimDue(db, { token: crypto.randomUUID(), leaseMs: 60_000, limit: 4 }))!.batch;
    const permits = new Permits(2);
    // An older batch holds every permit.
    await permits.acquire(0);
    await permits.acquire(0);
    const controller = new AbortController();
    const run = webhooks.deliver(owner, stopped, controller.signal, { permits: permits.forBatch(1) });
    await Bun.sleep(20);
    expect(permits.queued).toBe(2);
    controller.abort(new Error("stopped"));
    // It ends while the permits are still held: its workers left the queue.
    await run;
    expect(permits.queued).toBe(0);
    expect(permits.held).toBe(2);
    permits.release();
    permits.release();
    expect(permits.held).toBe(0);
    expect(receiver.received).toHaveLength(0);
    await webhooks.release(db, stopped.token, 0);
    expect(await pending()).toEqual(Array.from({ length: 4 }, () => ({ status: "pending", attempt_count: 0, claim_token: null })));
  });

  test("recording a batch of 500 reaches each delivery by key: no loop over the batch for each delivery, whatever the planner makes of the token", async () => {
    // Statistics as a busy table has them: most of its 4,000 deliveries hold no token, so a filter
    // on one token looks like one row to the planner (it made a 500 × 500 nested loop of that).
    await db.execute(sql`update webhook_deliveries set status = 'failed', next_attempt_at = null, claim_token = null where status = 'pending'`);
    const endpoint = await createEndpoint({ url: "http://127.0.0.1:9/plan", event_types: ["organization.created"] });
    await db.execute(sql`insert into webhook_events (id, type, body) select 'msg_plan_' || g, 'webhook.test', '{}' from generate_series(1, 4000) g`);
    await db.execute(
      sql`insert into webhook_deliveries (id, event_id, endpoint_id) select gen_random_uuid(), 'msg_plan_' || g, ${endpoint.id}::uuid from generate_series(1, 4000) g`,
    );
    await db.execute(sql`analyze webhook_deliveries`);
    const token = crypto.randomUUID();
    const claimed = (await webhooks.claimDue(db, { token, leaseMs: 60_000, limit: 500 }))!.batch;
    expect(claimed.deliveries).toHaveLength(500);
    const at = new Date().toISOString();
    const recorded = claimed.deliveries.map((d) => ({
      id: d.id,
      attempt_count: 1,
      attempted_at: at,
      status_code: 200,
      response_body: "ok",
      duration_ms: 1,
      error: null,
      manual: false,
      status: "succeeded",
      next_attempt_at: null,
      completed_at: at,
    }));
    const statement = webhooks.recordStatement(token, recorded, [], []);
    // The plan as executed (then rolled back): rows compared and thrown away by join filters.
    let plan: unknown;
    await db
      .transaction(async (tx) => {
        const [row] = await rows<{ "QUERY PLAN": unknown }>(tx, sql`explain (analyze, format json) ${statement}`);
        plan = typeof row!["QUERY PLAN"] === "string" ? JSON.parse(row!["QUERY PLAN"] as string) : row!["QUERY PLAN"];
        tx.rollback();
      })
      .catch(() => {});
    const removedByJoinFilter = (node: any): number =>
      (node?.["Rows Removed by Join Filter"] ?? 0) + [node?.Plan, ...(node?.Plans ?? [])].filter(Boolean).reduce((sum: number, n: any) => sum + removedByJoinFilter(n), 0);
    expect(Array.isArray(plan)).toBe(true);
    expect(removedByJoinFilter((plan as any[])[0])).toBeLessThan(500);
    // And it records what it should.
    await db.execute(statement);
    const after = await rows<{ status: string; n: number }>(db, sql`select status, count(*)::int as n from webhook_deliveries where endpoint_id = ${endpoint.id}::uuid group by status order by status`);
    expect(after).toEqual([
      { status: "pending", n: 3500 },
      { status: "succeeded", n: 500 },
    ]);
    const [logged] = await rows<{ n: number }>(db, sql`select count(*)::int as n from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.endpoint_id = ${endpoint.id}::uuid`);
    expect(logged!.n).toBe(500);
    await db.execute(sql`update webhook_deliveries set status = 'failed', next_attempt_at = null where status = 'pending'`);
  });

  test("a manual retry of a settled delivery makes it due, and its one attempt is marked manual and not retried", async () => {
    const receiver = startReceiver(() => new Response("no", { status: 500 }));
    const endpoint = await createEndpoint({ url: receiver.url, event_types: ["organization.created"] });
    await makeOrg(owner);
    await db.execute(sql`update webhook_deliveries set status = 'failed', next_attempt_at = null, completed_at = now(), attempt_count = ${MAX_ATTEMPTS}`);
    expect(await claim(60_000)).toBeNull();
    const [failed] = await log(endpoint.id);
    await webhooks.retry({ ctx: owner, input: { id: failed!.id } });
    const claimed = await claim(60_000);
    expect(claimed?.batch.deliveries.map((d) => [d.id, d.manual])).toEqual([[failed!.id, true]]);
    await webhooks.deliver(owner, claimed!.batch, new AbortController().signal);
    const [after] = await log(endpoint.id);
    expect(after).toMatchObject({ status: "failed", attempt_count: MAX_ATTEMPTS + 1, next_attempt_at: null });
    expect(after!.attempts.map((a) => a.manual)).toEqual([true]);
    expect(await claim(60_000)).toBeNull();
  });
});

describe("where webhooks may go, checked at every attempt", () => {
  const strict: Config = { ...config, webhookAllowPrivate: false };
  beforeAll(async () => {
    await db.execute(sql`update webhook_deliveries set status = 'failed', next_attempt_at = null where status = 'pending'`);
  });

  /** One attempt of the due delivery, as the runner makes it, with `lookup` standing in for DNS. */
  async function attempt(cfg: Config, lookup: (host: string) => Promise<{ address: string; family: number }[]>, options: { aborted?: boolean } = {}) {
    const claimed = await webhooks.claimDue(db, { token: crypto.randomUUID(), leaseMs: 30_000, limit: 1 });
    expect(claimed).not.toBeNull();
    // An aborted signal where nothing may be sent: even a broken check could not connect anywhere.
    const signal = options.aborted ? AbortSignal.abort() : new AbortController().signal;
    await webhooks.deliver({ ...owner, config: cfg }, claimed!.batch, signal, { lookup });
    // Its retry is not this test's business: the next attempt() takes the next new delivery.
    await db.execute(sql`update webhook_deliveries set status = 'failed', next_attempt_at = null where status = 'pending'`);
  }

  test("a name that resolves to a private, loopback, link-local or metadata address is refused before any connection", async () => {
    const endpoint = await createEndpoint({ url: "https://hooks.example.com/orgdesk" }, { ...owner, config: strict });
    const answers: [string, string][] = [
      ["10.0.0.7", "private"],
      ["127.0.0.1", "loopback"],
      ["169.254.169.254", "link-local"],
      ["::ffff:192.168.1.1", "private"],
      ["fd00:ec2::254", "private"],
    ];
    for (const [address, why] of answers) {
      await makeOrg(owner);
      await attempt(strict, async () => [{ address, family: address.includes(":") ? 6 : 4 }], { aborted: true });
      const [latest] = await log(endpoint.id);
      expect(latest!.attempts[0]!.error).toStartWith(`Refused: hooks.example.com resolves to ${address}, which is `);
      expect(latest!.attempts[0]!.error).toContain(why);
      expect(latest!.attempts[0]!.status_code).toBeNull();
    }
  });

  test("one refused address among a name's answers refuses it (the connection could land on that one)", async () => {
    const endpoint = await createEndpoint({ url: "https://hooks.example.com/orgdesk" }, { ...owner, config: strict });
    await makeOrg(owner);
    await attempt(
      strict,
      async () => [
        { address: "93.184.215.14", family: 4 },
        { address: "10.0.0.7", family: 4 },
      ],
      { aborted: true },
    );
    const [latest] = await log(endpoint.id);
    expect(latest!.attempts[0]!.error).toBe("Refused: hooks.example.com resolves to 10.0.0.7, which is a private address");
  });

  test("the name is resolved once and the request goes to that address, keeping the name in Host", async () => {
    const receiver = startReceiver();
    const endpoint = await createEndpoint({ url: `http://rebind.test:${receiver.port}/hook` });
    await makeOrg(owner);
    const asked: string[] = [];
    // Answers the receiver's address once, then a loopback address nobody listens on: a client
    // that resolved the name again (or let its HTTP stack resolve it) would not reach the receiver.
    await attempt(config, async (host) => {
      asked.push(host);
      return [{ address: asked.length === 1 ? "127.0.0.1" : "127.0.0.2", family: 4 }];
    });
    expect(asked).toEqual(["rebind.test"]);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.headers.host).toBe(`rebind.test:${receiver.port}`);
    verified(endpoint.secret, receiver.received[0]!);
    const [delivery] = await log(endpoint.id);
    expect(delivery!.status).toBe("succeeded");
  });
});
