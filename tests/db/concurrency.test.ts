import { describe, expect, test } from "bun:test";
import { asc, eq, isNull } from "drizzle-orm";
import { agentAssignments, agents, organizations, orgStatusPeriods } from "../../db/schema";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

/**
 * Invariants under concurrency, through the real HTTP server and a pooled connection: the
 * database locks and constraints, not the order of requests, keep them.
 */
const database = await testDatabase({ max: 16 });
const { api } = startTestServer(database);
const db = database.db;

async function expectCleanHistory(agentId: string) {
  const [agent] = await db.select().from(agents).where(eq(agents.id, agentId));
  const intervals = await db.select().from(agentAssignments).where(eq(agentAssignments.agentId, agentId)).orderBy(asc(agentAssignments.startsAt), asc(agentAssignments.endsAt));
  const open = intervals.filter((i) => i.endsAt === null);
  expect(open).toHaveLength(1);
  expect(open[0]!.orgId).toBe(agent!.orgId);
  // Contiguous: each interval ends exactly where the next begins (no gap, no overlap).
  const ordered = [...intervals.filter((i) => i.endsAt !== null), ...open];
  for (let i = 1; i < ordered.length; i++) {
    expect(ordered[i - 1]!.endsAt!.getTime()).toBe(ordered[i]!.startsAt.getTime());
  }
  return intervals.length;
}

describe("concurrent changes keep every invariant", () => {
  test("64 parallel reassignments of one agent, 20 rounds: one current organization, a gapless history, no 5xx", async () => {
    const orgIds: string[] = [];
    for (let i = 0; i < 8; i++) orgIds.push((await api.post("/api/organizations", { name: `Race Target ${i}`, billing_rate_per_agent: 10 + i })).body.id);
    const agent = (await api.post("/api/agents", { name: "Racer", org_id: orgIds[0] })).body;
    let moves = 0;
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) => api.post(`/api/agents/${agent.id}/assign-org`, { orgId: orgIds[(round * 7 + i) % orgIds.length] })),
      );
      for (const r of results) expect(r.status).toBe(200);
      moves += results.filter((r) => r.body.reassigned).length;
      const intervals = await expectCleanHistory(agent.id);
      expect(intervals).toBe(moves + 1);
    }
  }, 120_000);

  test("concurrent toggles lose no flip", async () => {
    const org = (await api.post("/api/organizations", { name: "Flip Flop" })).body;
    const flips = 41;
    const results = await Promise.all(Array.from({ length: flips }, () => api.post(`/api/organizations/${org.id}/toggle`)));
    for (const r of results) expect(r.status).toBe(200);
    // Every flip saw the previous one: the answers are alternating states, each exactly once per flip.
    const falses = results.filter((r) => r.body.is_active === false).length;
    expect(falses).toBe(Math.ceil(flips / 2));
    const [row] = await db.select().from(organizations).where(eq(organizations.id, org.id));
    expect(row!.isActive).toBe(false); // odd number of flips from active
    const periods = await db.select().from(orgStatusPeriods).where(eq(orgStatusPeriods.orgId, org.id));
    expect(periods).toHaveLength(flips + 1);
    const open = await db.select().from(orgStatusPeriods).where(isNull(orgStatusPeriods.endsAt));
    expect(open.filter((p) => p.orgId === org.id)).toHaveLength(1);
  });

  test("a delete racing an assign never leaves an agent in a deleted organization", async () => {
    const home = (await api.post("/api/organizations", { name: "Race Home" })).body;
    let deletedFirst = 0;
    let assignedFirst = 0;
    for (let round = 0; round < 25; round++) {
      const target = (await api.post("/api/organizations", { name: `Doomed ${round}` })).body;
      const agent = (await api.post("/api/agents", { name: `Contender ${round}`, org_id: home.id })).body;
      const [del, move] = await Promise.all([api.delete(`/api/organizations/${target.id}`), api.post(`/api/agents/${agent.id}/assign-org`, { orgId: target.id })]);
      expect([del.status, move.status].sort()).toEqual(del.status === 200 ? [200, 404] : [200, 409]);
      if (del.status === 200) deletedFirst++;
      else assignedFirst++;
      const [row] = await db.select({ orgId: agents.orgId, deletedAt: organizations.deletedAt }).from(agents).innerJoin(organizations, eq(organizations.id, agents.orgId)).where(eq(agents.id, agent.id));
      expect(row!.deletedAt).toBeNull();
    }
    expect(deletedFirst + assignedFirst).toBe(25);
  }, 60_000);

  test("parallel creations with the same name get distinct slugs", async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => api.post("/api/organizations", { name: "Stampede" })));
    for (const r of results) expect(r.status).toBe(201);
    const slugs = results.map((r) => r.body.slug).sort();
    expect(new Set(slugs).size).toBe(12);
    expect(slugs).toContain("stampede");
  });
});
