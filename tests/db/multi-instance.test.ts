import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { agentAssignments, agents, organizations, orgStatusPeriods } from "../../db/schema";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { client } from "../support/http";
import { type ServerProcess, startProcess } from "../support/server-process";

/**
 * SPEC §6: several stateless instances behind a load balancer against one PostgreSQL. Two real
 * server processes share one fresh database; moves, toggles and ingestion go through both at
 * once, and every invariant holds afterwards. Only the database can make that true: neither
 * process knows about the other.
 *
 * Skipped on PGlite: an embedded database belongs to the one process that opened it, so two
 * server processes cannot share it (that is what DATABASE_URL is for).
 */
const onPostgres = TEST_DB_KIND === "postgres";
const KEY = "multi-instance-admin-key";
const database = onPostgres ? await testDatabase() : undefined!;

describe.skipIf(!onPostgres)("two server processes on one PostgreSQL", () => {
  let a: ServerProcess;
  let b: ServerProcess;
  const api = () => [client(a.base, KEY), client(b.base, KEY)] as const;

  beforeAll(async () => {
    // Both start at once: migrations run under an advisory lock, so the second waits and finds nothing to do.
    [a, b] = await Promise.all([
      startProcess("server/index.ts", { DATABASE_URL: database.url!, ADMIN_API_KEY: KEY, WEB_DIR: "" }),
      startProcess("server/index.ts", { DATABASE_URL: database.url!, ADMIN_API_KEY: KEY, WEB_DIR: "" }),
    ]);
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
});
