import { afterAll, beforeAll, expect, test } from "bun:test";
import { asc, eq, sql } from "drizzle-orm";
import { type Database, rows } from "../../db/client";
import { agentAssignments, agents, organizations, orgStatusPeriods } from "../../db/schema";
import { client } from "./http";
import type { ServerProcess as Process } from "./server-process";

/** Two server instances on one database, each with the admin key it was started with; `database` reads directly. */
export interface Instances {
  a: ServerProcess;
  b: ServerProcess;
  database: Database;
}
type ServerProcess = Process & { key: string };

/**
 * The multi-instance invariants (docs/scaling.md): moves, toggles and ingestion with re-sends and
 * conflicting ids sent through two instances at once, then every invariant checked in the
 * database. Used as is for instances on one PostgreSQL (tests/db/multi-instance.test.ts) and through
 * PgBouncer in transaction mode (tests/db/pgbouncer.test.ts): call it inside a `describe`.
 */
export function multiInstanceScenarios(setup: () => Promise<Instances>) {
  let a: ServerProcess;
  let b: ServerProcess;
  let database: Database;
  const api = () => [client(a.base, a.key), client(b.base, b.key)] as const;

  beforeAll(async () => {
    ({ a, b, database } = await setup());
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test("both instances answer from the same data", async () => {
    const [ca, cb] = api();
    const created = await ca.post("/api/organizations", { name: "Seen By Both" });
    expect(created.status).toBe(201);
    const seen = await cb.get(`/api/organizations/${created.body.slug}`);
    expect(seen.status).toBe(200);
    expect(seen.body.id).toBe(created.body.id);
  });

  test("concurrent moves through both instances leave one open interval per agent, gapless histories and agents.org_id in step", async () => {
    const [ca, cb] = api();
    const orgIds: string[] = [];
    for (let i = 0; i < 6; i++) orgIds.push((await ca.post("/api/organizations", { name: `Shared Target ${i}`, billing_rate_per_agent: 20 + i })).body.id);
    const agentIds: string[] = [];
    for (let i = 0; i < 10; i++) agentIds.push((await cb.post("/api/agents", { name: `Shared Agent ${i}`, org_id: orgIds[i % 6] })).body.id);

    let reassigned = new Map<string, number>(agentIds.map((id) => [id, 0]));
    let unassigned = new Map<string, number>(agentIds.map((id) => [id, 0]));
    for (let round = 0; round < 8; round++) {
      // Each agent receives four moves at once, two through each instance, to different organizations,
      // plus an unassignment on every other round.
      const calls = agentIds.flatMap((agentId, i) => [
        ...[0, 1, 2, 3].map((k) => ({ via: k % 2 === 0 ? ca : cb, agentId, kind: "assign" as const, orgId: orgIds[(round + i + k) % 6]! })),
        ...(round % 2 === 1 ? [{ via: i % 2 ? ca : cb, agentId, kind: "unassign" as const, orgId: "" }] : []),
      ]);
      const results = await Promise.all(
        calls.map(async (c) => ({
          c,
          res: c.kind === "assign" ? await c.via.post(`/api/agents/${c.agentId}/assign-org`, { orgId: c.orgId }) : await c.via.post(`/api/agents/${c.agentId}/unassign-org`),
        })),
      );
      for (const { c, res } of results) {
        expect(res.status).toBe(200);
        if (c.kind === "assign" && res.body.reassigned) reassigned.set(c.agentId, reassigned.get(c.agentId)! + 1);
        // An unassignment of an agent already in the internal organization changes nothing.
        if (c.kind === "unassign" && res.body.previousOrgId !== res.body.orgId) unassigned.set(c.agentId, unassigned.get(c.agentId)! + 1);
      }
    }

    const db = database.db;
    for (const agentId of agentIds) {
      const [agent] = await db.select().from(agents).where(eq(agents.id, agentId));
      const intervals = await db.select().from(agentAssignments).where(eq(agentAssignments.agentId, agentId)).orderBy(asc(agentAssignments.startsAt), asc(agentAssignments.endsAt));
      const open = intervals.filter((x) => x.endsAt === null);
      expect(open).toHaveLength(1);
      expect(open[0]!.orgId).toBe(agent!.orgId);
      const ordered = [...intervals.filter((x) => x.endsAt !== null), ...open];
      for (let i = 1; i < ordered.length; i++) {
        expect(ordered[i - 1]!.endsAt!.getTime()).toBe(ordered[i]!.startsAt.getTime());
        // A move always changes the organization: consecutive intervals never repeat one.
        expect(ordered[i]!.orgId).not.toBe(ordered[i - 1]!.orgId);
      }
      // Exactly one interval per change the instances reported, plus the first.
      expect(intervals.length).toBe(1 + reassigned.get(agentId)! + unassigned.get(agentId)!);
    }
  }, 120_000);

  test("concurrent toggles through both instances lose no flip", async () => {
    const [ca, cb] = api();
    const orgs = await Promise.all([0, 1, 2].map((i) => ca.post("/api/organizations", { name: `Shared Flip ${i}` })));
    const flips = 25;
    const results = await Promise.all(
      orgs.flatMap((o) => Array.from({ length: flips }, (_, k) => (k % 2 ? ca : cb).post(`/api/organizations/${o.body.id}/toggle`))),
    );
    for (const r of results) expect(r.status).toBe(200);
    for (const o of orgs) {
      const mine = results.filter((r) => r.body.id === o.body.id);
      // Every flip saw the one before it: the answers alternate, so exactly half-rounded-up say inactive.
      expect(mine.filter((r) => r.body.is_active === false)).toHaveLength(Math.ceil(flips / 2));
      const [row] = await database.db.select().from(organizations).where(eq(organizations.id, o.body.id));
      expect(row!.isActive).toBe(false);
      const periods = await database.db.select().from(orgStatusPeriods).where(eq(orgStatusPeriods.orgId, o.body.id)).orderBy(asc(orgStatusPeriods.startsAt));
      expect(periods).toHaveLength(flips + 1);
      expect(periods.filter((p) => p.endsAt === null)).toHaveLength(1);
      for (let i = 1; i < periods.length; i++) {
        expect(periods[i - 1]!.endsAt!.getTime()).toBe(periods[i]!.startsAt.getTime());
        expect(periods[i]!.isActive).toBe(!periods[i - 1]!.isActive);
      }
    }
  }, 60_000);

  test("concurrent ingestion through both instances, with re-sends, id conflicts and moves, stores each event once and keeps rollups equal to raw", async () => {
    const [ca, cb] = api();
    const day = 86_400_000;
    const created = new Date(Date.now() - 30 * day).toISOString();
    const orgIds: string[] = [];
    for (let i = 0; i < 3; i++) orgIds.push((await ca.post("/api/organizations", { name: `Usage Client ${i}`, created_at: created })).body.id);
    const agentIds: string[] = [];
    for (let i = 0; i < 6; i++) agentIds.push((await cb.post("/api/agents", { name: `Usage Agent ${i}`, org_id: orgIds[i % 3], created_at: created })).body.id);

    // Events of the last 20 days (before any of the moves below), 40 batches of 100.
    const models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "unpriced-test-model"];
    const batches = Array.from({ length: 40 }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => ({
        id: `mi-${b}-${i}`,
        agent_id: agentIds[(b + i) % agentIds.length]!,
        model: models[i % models.length]!,
        input_tokens: 1000 + b * 100 + i,
        output_tokens: 10 + i,
        cache_read_tokens: i % 3 === 0 ? 50 : 0,
        ...(i % 10 === 0 ? { cost_usd: `0.${String(b * 100 + i).padStart(6, "0")}` } : {}),
        occurred_at: new Date(Date.now() - 20 * day + (b * 100 + i) * 60_000).toISOString(),
      })),
    );
    // Conflicting variants (same id, one more output token) of five events in each of ten odd batches,
    // which are never re-sent, so every id has either re-sends or a conflict, not both.
    const conflicting = new Map(batches.map((batch, b) => [b, batch.slice(0, 5).map((e) => ({ ...e, output_tokens: e.output_tokens + 1 }))] as const).filter(([b]) => b % 2 === 1 && b < 20));
    const post = (via: ReturnType<typeof client>, events: unknown[]) => via.post("/api/usage", { events });

    // Every batch through one instance; every fourth re-sent at once through the other; ten
    // conflicting variants of five events raced against the originals; agents moving meanwhile.
    const work: Promise<{ kind: string; res: Awaited<ReturnType<typeof post>> }>[] = [];
    batches.forEach((batch, b) => {
      const [first, second] = b % 2 ? [ca, cb] : [cb, ca];
      work.push(post(first, batch).then((res) => ({ kind: "original", res })));
      if (b % 4 === 0) work.push(post(second, batch).then((res) => ({ kind: "resend", res })));
      if (conflicting.has(b)) work.push(post(second, conflicting.get(b)!).then((res) => ({ kind: "conflict", res })));
      if (b % 8 === 0) work.push((b % 16 ? ca : cb).post(`/api/agents/${agentIds[b % agentIds.length]}/assign-org`, { orgId: orgIds[(b / 8 + 1) % 3] }).then((res) => ({ kind: "move", res })));
    });
    const results = await Promise.all(work);
    // A failed request shows its answer and what the instances logged as errors and warnings.
    const failed = results.filter(({ res }) => res.status !== 200);
    if (failed.length > 0) {
      const errors = [a, b].flatMap((p) => p.output().split("\n").filter((line) => /"level":"(error|warn)"/.test(line)));
      expect({ failed: failed.map(({ kind, res }) => ({ kind, status: res.status, body: res.body })), errors: errors.slice(-10) }).toEqual({ failed: [], errors: [] });
    }

    const ingestions = results.filter((r) => r.kind !== "move").map((r) => r.res.body);
    const accepted = ingestions.reduce((s, b) => s + b.accepted, 0);
    const duplicates = ingestions.reduce((s, b) => s + b.duplicates, 0);
    const rejected = ingestions.flatMap((b) => b.rejected);
    const unique = 40 * 100;
    // Each id stored exactly once; of the same-content sends all but one are duplicates; of each
    // conflicting pair exactly one wins and the other is rejected for its id.
    expect(accepted).toBe(unique);
    expect(duplicates).toBe(10 * 100);
    expect(rejected).toHaveLength(10 * 5);
    expect(rejected.every((r: { code: string }) => r.code === "id_conflict")).toBe(true);

    const db = database.db;
    const [stored] = await rows<{ n: number; input: string }>(db, sql`select count(*)::int as n, sum(input_tokens)::text as input from usage_events where id like 'mi-%'`);
    expect(stored!.n).toBe(unique);
    // Whichever variant won, input tokens are the same in both (only output differs).
    expect(stored!.input).toBe(String(batches.flat().reduce((s, e) => s + e.input_tokens, 0)));
    const [{ output } = { output: "" }] = await rows<{ output: string }>(db, sql`select sum(output_tokens)::text as output from usage_events where id like 'mi-%'`);
    const baseOutput = batches.flat().reduce((s, e) => s + e.output_tokens, 0);
    // Each conflicting variant that won carries one more output token than its original.
    const variantWon = results.filter((r) => r.kind === "conflict").reduce((s, r) => s + r.res.body.accepted, 0);
    expect(Number(output)).toBe(baseOutput + variantWon);

    // Every event is attributed to the organization its agent was in at occurred_at.
    const [misattributed] = await rows<{ n: number }>(
      db,
      sql`select count(*)::int as n from usage_events e where e.id like 'mi-%' and not exists (
            select 1 from agent_assignments a where a.agent_id = e.agent_id and a.org_id = e.org_id
              and a.starts_at <= e.occurred_at and (a.ends_at is null or a.ends_at > e.occurred_at))`,
    );
    expect(misattributed!.n).toBe(0);
    // Rollups equal raw events on every key and measure.
    const [diff] = await rows<{ n: number }>(
      db,
      sql`with raw as (select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date as month, count(*)::bigint as events,
                              (count(*) filter (where cost_usd is null))::bigint as unpriced, sum(input_tokens)::bigint as i,
                              sum(output_tokens)::bigint as o, sum(cache_read_tokens)::bigint as cr, sum(cache_write_tokens)::bigint as cw,
                              coalesce(sum(cost_usd), 0)::numeric as cost
                       from usage_events group by 1, 2, 3, 4),
               rolled as (select org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens,
                                 cache_write_tokens, cost_usd::numeric from usage_month_totals)
          select count(*)::int as n from ((select * from raw except select * from rolled) union all (select * from rolled except select * from raw)) d`,
    );
    expect(diff!.n).toBe(0);
  }, 120_000);

  test("webhook deliveries claimed by both instances' runners: each attempt made once, never by both, each recorded once", async () => {
    const [ca] = api();
    // More due deliveries than one instance's runner holds while none of its batches can finish
    // starting its requests: JOB_CONCURRENCY 4 batches of 500, with 4 × 100 request permits. The
    // receiver holds every answer until no due delivery is left unclaimed, so the other instance
    // must have claimed the rest — whichever instance polled first — and both send at once.
    const n = 2500;
    const seen = new Map<string, number>();
    let inFlight = new Map<string, number>();
    let overlapping = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      idleTimeout: 60,
      fetch: async (req) => {
        await req.text();
        const id = req.headers.get("webhook-id")!;
        seen.set(id, (seen.get(id) ?? 0) + 1);
        if (inFlight.has(id)) overlapping++;
        inFlight.set(id, 1);
        await gate;
        await Bun.sleep(20);
        inFlight.delete(id);
        return new Response("ok");
      },
    });
    const delivered = async (base: string) => {
      const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
      return Number(/^orgdesk_webhook_deliveries_total\{result="delivered"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    try {
      const before = [await delivered(a.base), await delivered(b.base)];
      const hook = await ca.post("/api/webhooks", { url: `http://127.0.0.1:${receiver.port}/hook`, event_types: ["invoice.voided"] });
      expect(hook.status).toBe(201);
      const db = database.db;
      await db.transaction(async (tx) => {
        await tx.execute(sql`insert into webhook_events (id, type, body)
          select 'msg_mi_' || g, 'webhook.test', json_build_object('type', 'webhook.test', 'timestamp', now(), 'data', json_build_object('n', g))::text
            from generate_series(1, ${n}) g`);
        await tx.execute(sql`insert into webhook_deliveries (event_id, endpoint_id) select 'msg_mi_' || g, ${hook.body.id}::uuid from generate_series(1, ${n}) g`);
      });
      // Open the gate once every delivery is claimed (by a batch of one instance or the other).
      const unclaimed = async () =>
        (await rows<{ n: number }>(db, sql`select count(*)::int as n from webhook_deliveries where endpoint_id = ${hook.body.id}::uuid and status = 'pending' and claim_token is null`))[0]!.n;
      const claimDeadline = Date.now() + 30_000;
      while ((await unclaimed()) > 0 && Date.now() < claimDeadline) await Bun.sleep(50);
      expect(await unclaimed()).toBe(0);
      open();
      const settled = async () => (await rows<{ n: number }>(db, sql`select count(*)::int as n from webhook_deliveries where endpoint_id = ${hook.body.id}::uuid and status = 'succeeded'`))[0]!.n;
      const deadline = Date.now() + 60_000;
      while ((await settled()) < n && Date.now() < deadline) await Bun.sleep(100);
      expect(await settled()).toBe(n);
      // Each delivery was sent once (no lease ran out, nothing crashed) and never twice at once, and recorded once.
      expect(seen.size).toBe(n);
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
      expect(overlapping).toBe(0);
      const [recorded] = await rows<{ attempts: number; counted: number; claimed: number }>(
        db,
        sql`select (select count(*)::int from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.endpoint_id = ${hook.body.id}::uuid) as attempts,
                   coalesce(sum(attempt_count), 0)::int as counted, count(claim_token)::int as claimed
              from webhook_deliveries where endpoint_id = ${hook.body.id}::uuid`,
      );
      expect(recorded).toEqual({ attempts: n, counted: n, claimed: 0 });
      // Both instances delivered some of them.
      const after = [await delivered(a.base), await delivered(b.base)];
      const byInstance = after.map((x, i) => x - before[i]!);
      expect(byInstance[0]! + byInstance[1]!).toBe(n);
      expect(Math.min(...byInstance)).toBeGreaterThan(0);
      expect((await ca.delete(`/api/webhooks/${hook.body.id}`)).status).toBe(200);
    } finally {
      open();
      inFlight = new Map();
      receiver.stop(true);
    }
  }, 120_000);
}

/** The environment the instances of these scenarios need besides their database: webhooks to a local receiver, metrics. */
export const METRICS_TOKEN = "multi-instance-metrics-token";
export const SCENARIO_ENV = { SECRETS_KEY: "c".repeat(64), WEBHOOK_ALLOW_PRIVATE: "1", METRICS_TOKEN };
