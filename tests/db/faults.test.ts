import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { migrate, openPostgres } from "../../db/client";
import { databaseChecksum } from "../support/checksum";
import { TEST_DB_KIND } from "../support/db";
import { ADMIN_KEY, client, startTestServer } from "../support/http";
import { startPrivatePostgres } from "../support/private-postgres";

/**
 * Faults: PostgreSQL stopped, crashed and restarted under a write load; clients that disconnect
 * in the middle of a request. Runs against a private cluster this file creates (never the shared
 * one). Skipped under ORGDESK_TEST_DB=pglite: an embedded database lives and dies with the server
 * process, so there is no separate database to stop.
 */
const skip = TEST_DB_KIND === "pglite";

const pg = skip ? null : await startPrivatePostgres();
const database = await (async () => {
  if (!pg) return null;
  const admin = postgres(pg.url("postgres"), { max: 1, onnotice: () => {} });
  await admin`create database orgdesk`;
  await admin.end();
  const db = openPostgres(pg.url("orgdesk"), { max: 8, connectTimeoutSeconds: 2 });
  await migrate(db);
  return db;
})();
const server = database ? startTestServer(database) : null;
const api = server?.api ?? client("http://127.0.0.1:1", ADMIN_KEY);

/** Figures for docs/reliability.md, printed at the end. */
const figures = { usageDuplicates: 0, faults: 0, requests: 0, unavailable: 0, networkErrors: 0, retried: 0, maxUnavailableMs: 0, checked: [] as string[] };

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

/** Waits until the server reports the database up again, without restarting anything. */
async function untilHealthy(limitMs = 60_000) {
  const until = Date.now() + limitMs;
  for (;;) {
    const res = await api.get("/api/health").catch(() => null);
    if (res?.status === 200) return;
    if (Date.now() > until) throw new Error("the server did not recover");
    await Bun.sleep(200);
  }
}

describe.skipIf(skip)("PostgreSQL stopped and restarted", () => {
  test("while the database is down every API call answers 503 problem+json with Retry-After, and the server recovers by itself", async () => {
    const org = (await api.post("/api/organizations", { name: "Before The Outage" })).body;
    pg!.stop("fast");
    figures.faults++;
    try {
      const [health] = await timed(() => api.get("/api/health"));
      expect(health.status).toBe(503);
      expect(health.body).toEqual({ status: "degraded", database: "down" });
      const calls = [
        () => api.get("/api/organizations"),
        () => api.get(`/api/organizations/${org.id}`),
        () => api.post("/api/organizations", { name: "During The Outage" }),
        () => api.patch(`/api/organizations/${org.id}`, { description: "changed while down" }),
        () => api.post(`/api/organizations/${org.id}/toggle`),
        () => api.get("/api/agents"),
      ];
      for (const call of calls) {
        const [res, ms] = await timed(call);
        figures.maxUnavailableMs = Math.max(figures.maxUnavailableMs, ms);
        expect(res.status).toBe(503);
        expect(res.headers.get("content-type")).toStartWith("application/problem+json");
        expect(res.headers.get("retry-after")).toBe("2");
        expect(res.body).toMatchObject({ status: 503, code: "unavailable", detail: "The database is unavailable; retry shortly" });
      }
    } finally {
      pg!.start();
    }
    await untilHealthy();
    const after = await api.get(`/api/organizations/${org.id}`);
    expect(after.status).toBe(200);
    expect(after.body.description).toBeNull();
    expect((await api.get("/api/organizations?q=During")).body.organizations).toEqual([]);
  });

  test("clients retrying through crashes and restarts end with exactly the state they asked for, nothing lost or doubled", async () => {
    const AGENTS = 60;
    const WORKERS = 8;
    const targets: { id: string }[] = [];
    for (const name of ["Fault A", "Fault B", "Fault C"]) targets.push((await api.post("/api/organizations", { name })).body);
    const agentIds: string[] = [];
    for (let i = 0; i < AGENTS; i++) agentIds.push((await api.post("/api/agents", { name: `Fault Agent ${i}` })).body.id);

    // Every operation is safe to repeat: a move to where the agent already is does nothing, an
    // organization with a given slug exists at most once (its slug is the idempotency key).
    type Op = { send: () => Promise<{ status: number; headers: Headers; body: any }>; done: (status: number) => boolean; check?: (body: any) => boolean };
    const queues: Op[][] = Array.from({ length: WORKERS }, () => []);
    agentIds.forEach((id, i) => {
      const q = queues[i % WORKERS]!;
      for (const t of targets) q.push({ send: () => api.post(`/api/agents/${id}/assign-org`, { orgId: t.id }), done: (s) => s === 200 });
      q.push({ send: () => api.post("/api/organizations", { name: `Load ${i}`, slug: `load-${i}` }), done: (s) => s === 201 || s === 409 });
    });
    // Usage ingestion: batches of 25 events with fixed ids and 4-decimal costs, into agents that
    // stay in one organization; a retried batch must count its stored events as duplicates.
    const usageOrg = (await api.post("/api/organizations", { name: "Fault Usage" })).body;
    const usageAgents: string[] = [];
    for (let i = 0; i < 4; i++) usageAgents.push((await api.post("/api/agents", { name: `Fault Usage Agent ${i}`, org_id: usageOrg.id })).body.id);
    const BATCHES = 48;
    const PER_BATCH = 25;
    let expectedCost = 0n; // 1/10 000 USD
    let expectedInput = 0;
    const occurredAt = new Date().toISOString();
    for (let b = 0; b < BATCHES; b++) {
      const events = Array.from({ length: PER_BATCH }, (_, i) => {
        const n = b * PER_BATCH + i;
        const cost = BigInt(1 + ((n * 7919) % 100_000));
        expectedCost += cost;
        expectedInput += 100 + (n % 1000);
        return {
          id: `fault-${n}`,
          agent_id: usageAgents[n % usageAgents.length],
          model: "fault-model",
          input_tokens: 100 + (n % 1000),
          output_tokens: 10,
          cost_usd: `${cost / 10_000n}.${String(cost % 10_000n).padStart(4, "0")}`,
          occurred_at: occurredAt,
        };
      });
      queues[b % WORKERS]!.push({
        send: () => api.post("/api/usage", { events }),
        done: (s) => s === 200,
        check: (body) => {
          figures.usageDuplicates += body.duplicates;
          return body.accepted + body.duplicates === PER_BATCH && body.rejected.length === 0;
        },
      });
    }
    const total = queues.reduce((n, q) => n + q.length, 0);
    let completed = 0;
    const unexpected: string[] = [];

    async function worker(queue: Op[]) {
      for (const op of queue) {
        for (let attempt = 0; ; attempt++) {
          figures.requests++;
          if (attempt > 0) figures.retried++;
          let res;
          try {
            res = await op.send();
          } catch {
            figures.networkErrors++;
            await Bun.sleep(100);
            continue;
          }
          if (op.done(res.status)) {
            if (op.check && !op.check(res.body)) unexpected.push(`usage answer ${JSON.stringify(res.body).slice(0, 200)}`);
            break;
          }
          if (res.status === 503) {
            figures.unavailable++;
            if (!res.headers.get("content-type")?.startsWith("application/problem+json") || !res.headers.get("retry-after")) unexpected.push("503 without problem+json and Retry-After");
            await Bun.sleep(100);
            continue;
          }
          // A statement cut by a crash can surface as a conflict; anything else is a failure.
          if (res.status === 409 && res.body?.detail?.includes("concurrent")) continue;
          unexpected.push(`${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          break;
        }
        completed++;
        await Bun.sleep(5);
      }
    }

    async function injector() {
      const plan: ("immediate" | "fast")[] = ["immediate", "fast", "immediate"];
      for (const [i, mode] of plan.entries()) {
        const at = Math.floor((total * (i + 1)) / (plan.length + 1));
        while (completed < at) await Bun.sleep(10);
        pg!.stop(mode);
        figures.faults++;
        await Bun.sleep(1500);
        pg!.start();
      }
    }

    await Promise.all([...queues.map(worker), injector()]);
    expect(unexpected).toEqual([]);
    expect(completed).toBe(total);
    expect(figures.unavailable + figures.networkErrors).toBeGreaterThan(0);
    await untilHealthy();

    // Exactly the asked-for state: every agent in C with history internal → A → B → C, no gaps,
    // no overlaps, no repeated interval; one organization per slug; one audit entry per change.
    const db = postgres(pg!.url("orgdesk"), { max: 1, onnotice: () => {} });
    try {
      const history = await db<{ agent_id: string; org_id: string; starts_at: Date; ends_at: Date | null }[]>`
        select agent_id, org_id, starts_at, ends_at from agent_assignments
        where agent_id in ${db(agentIds)} order by agent_id, starts_at`;
      type Interval = (typeof history)[number];
      const byAgent = new Map<string, Interval[]>();
      for (const row of history) byAgent.set(row.agent_id, [...(byAgent.get(row.agent_id) ?? []), row]);
      const expectedOrgs = ["00000000-0000-4000-8000-000000000001", ...targets.map((t) => t.id)];
      for (const id of agentIds) {
        const rows = byAgent.get(id)!;
        expect(rows.map((r) => r.org_id)).toEqual(expectedOrgs);
        for (let i = 1; i < rows.length; i++) expect(rows[i - 1]!.ends_at?.getTime()).toBe(rows[i]!.starts_at.getTime());
        expect(rows.at(-1)!.ends_at).toBeNull();
      }
      const [{ n: orgs } = { n: -1 }] = await db<{ n: number }[]>`select count(*)::int as n from organizations where slug like 'load-%' and deleted_at is null`;
      expect(orgs).toBe(AGENTS);
      const [{ n: moves } = { n: -1 }] = await db<{ n: number }[]>`select count(*)::int as n from audit_log where action = 'agent.assign' and target_id::text in ${db(agentIds)}`;
      expect(moves).toBe(AGENTS * targets.length);
      const [{ n: creates } = { n: -1 }] = await db<{ n: number }[]>`select count(*)::int as n from audit_log a join organizations o on o.id::text = a.target_id::text where a.action = 'organization.create' and o.slug like 'load-%'`;
      expect(creates).toBe(AGENTS);
      const [usage] = await db<{ n: number; cost: string; input: string }[]>`
        select count(*)::int as n, sum(cost_usd)::text as cost, sum(input_tokens)::text as input from usage_events where id like 'fault-%'`;
      expect(usage!.n).toBe(BATCHES * PER_BATCH);
      expect(Number(usage!.input)).toBe(expectedInput);
      const cost = `${expectedCost / 10_000n}.${String(expectedCost % 10_000n).padStart(4, "0")}`;
      expect(usage!.cost.replace(/0+$/, "")).toBe(cost.replace(/0+$/, ""));
      const month = occurredAt.slice(0, 7);
      // Right after recovery a pooled connection may still be reconnecting: a client follows Retry-After.
      let res = await api.get(`/api/organizations/${usageOrg.id}/billing-summary?from=${month}&to=${month}`);
      for (let i = 0; res.status === 503 && i < 20; i++) {
        await Bun.sleep(500);
        res = await api.get(`/api/organizations/${usageOrg.id}/billing-summary?from=${month}&to=${month}`);
      }
      expect(res.status).toBe(200);
      const summary = res.body.summary[0];
      expect({ cost: summary.total_cost_usd, input: summary.total_input_tokens }).toEqual({ cost, input: expectedInput });
      figures.checked.push(
        `${AGENTS} agents × ${targets.length} moves (${history.length} intervals)`,
        `${orgs} organizations by slug`,
        `${moves + creates} audit entries`,
        `${usage!.n} usage events in ${BATCHES} retried batches, cost ${cost} USD and ${expectedInput} input tokens exact`,
      );
    } finally {
      await db.end();
    }
  }, 240_000);

  test("a client that disconnects in the middle of its request body leaves no partial write", async () => {
    const before = await databaseChecksum(database!.db);
    const url = new URL(server!.base);
    const body = JSON.stringify({ name: "Half Sent", contact_name: "Never Stored", billing_rate_per_agent: "10.00" });
    for (let i = 0; i < 20; i++) {
      const cut = 1 + Math.floor((body.length - 2) * (i / 20));
      await new Promise<void>((resolve, reject) => {
        Bun.connect({
          hostname: url.hostname,
          port: Number(url.port),
          socket: {
            open(socket) {
              socket.write(
                `POST /api/organizations HTTP/1.1\r\nHost: ${url.host}\r\nX-API-Key: ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, cut)}`,
              );
              setTimeout(() => socket.end(), 20);
            },
            close: () => resolve(),
            error: (_s, e) => reject(e),
            data() {},
          },
        }).catch(reject);
      });
    }
    await Bun.sleep(200);
    expect(await databaseChecksum(database!.db)).toBe(before);
  });

  test("a client that disconnects before reading the answer gets all of its change or none of it", async () => {
    const url = new URL(server!.base);
    const names: string[] = [];
    for (let i = 0; i < 20; i++) {
      const name = `Hang Up ${i}`;
      names.push(name);
      const body = JSON.stringify({ name, billing_rate_per_agent: "5.00" });
      await new Promise<void>((resolve) => {
        Bun.connect({
          hostname: url.hostname,
          port: Number(url.port),
          socket: {
            open(socket) {
              socket.write(
                `POST /api/organizations HTTP/1.1\r\nHost: ${url.host}\r\nX-API-Key: ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
              );
              // Hang up at once, before the answer: sometimes before the insert, sometimes after.
              setTimeout(() => socket.end(), i % 4);
            },
            close: () => resolve(),
            error: () => resolve(),
            data() {},
          },
        });
      });
    }
    await Bun.sleep(500);
    const db = postgres(pg!.url("orgdesk"), { max: 1, onnotice: () => {} });
    try {
      // Every organization that exists is whole: its status period, its rate period and its audit entry.
      const rows = await db<{ name: string; statuses: number; rates: number; audits: number }[]>`
        select o.name,
          (select count(*)::int from org_status_periods s where s.org_id = o.id) as statuses,
          (select count(*)::int from org_rate_periods r where r.org_id = o.id) as rates,
          (select count(*)::int from audit_log a where a.target_id::text = o.id::text and a.action = 'organization.create') as audits
        from organizations o where o.name like 'Hang Up %'`;
      for (const row of rows) expect(row).toEqual({ name: row.name, statuses: 1, rates: 1, audits: 1 });
      figures.checked.push(`${rows.length} of 20 hung-up creations stored whole, ${20 - rows.length} not at all`);
    } finally {
      await db.end();
    }
    console.log(
      `faults: ${figures.faults} database stops survived (2 immediate, 2 fast), ${figures.requests} load requests, ` +
        `${figures.unavailable} answered 503, ${figures.networkErrors} network errors, ${figures.retried} retries, ` +
        `slowest 503 while down ${Math.round(figures.maxUnavailableMs)} ms, ${figures.usageDuplicates} events found already stored on retry; checked: ${figures.checked.join("; ")}`,
    );
  });
});
