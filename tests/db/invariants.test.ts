import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { agentAssignments, agents, INTERNAL_ORG_ID, organizations, orgStatusPeriods } from "../../db/schema";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { sqlstate } from "../support/failures";
import { makeAgent, makeOrg } from "../support/factories";

/** The database itself refuses states the services never create. */
const database = await testDatabase();
const ctx = ctxFor(database);
const db = database.db;


describe("database constraints", () => {
  test("two assignment intervals of one agent cannot overlap", async () => {
    const agent = await makeAgent(ctx, { created_at: "2025-01-01T00:00:00Z" });
    await db.update(agentAssignments).set({ endsAt: new Date("2025-03-01T00:00:00Z") }).where(eq(agentAssignments.agentId, agent.id));
    const overlap = db.insert(agentAssignments).values({ agentId: agent.id, orgId: INTERNAL_ORG_ID, startsAt: new Date("2025-02-01T00:00:00Z"), endsAt: new Date("2025-04-01T00:00:00Z") });
    expect(await sqlstate(overlap)).toBe("23P01");
    // Touching intervals are fine: [a, b) then [b, c).
    await db.insert(agentAssignments).values({ agentId: agent.id, orgId: INTERNAL_ORG_ID, startsAt: new Date("2025-03-01T00:00:00Z") });
  });

  test("an agent has at most one open assignment", async () => {
    const agent = await makeAgent(ctx);
    const second = db.insert(agentAssignments).values({ agentId: agent.id, orgId: INTERNAL_ORG_ID, startsAt: new Date("2030-01-01T00:00:00Z") });
    expect(["23505", "23P01"]).toContain((await sqlstate(second))!);
  });

  test("an interval cannot end before it starts", async () => {
    const agent = await makeAgent(ctx);
    const backwards = db.insert(agentAssignments).values({ agentId: agent.id, orgId: INTERNAL_ORG_ID, startsAt: new Date("2020-02-01"), endsAt: new Date("2020-01-01") });
    expect(await sqlstate(backwards)).toBe("23514");
  });

  test("organization status periods cannot overlap", async () => {
    const org = await makeOrg(ctx, { created_at: "2025-01-01T00:00:00Z" });
    const overlap = db.insert(orgStatusPeriods).values({ orgId: org.id, isActive: false, startsAt: new Date("2025-02-01T00:00:00Z"), endsAt: new Date("2025-02-05T00:00:00Z") });
    expect(await sqlstate(overlap)).toBe("23P01");
  });

  test("an agent cannot be placed in a deleted organization", async () => {
    const org = await makeOrg(ctx);
    const agent = await makeAgent(ctx);
    await db.update(organizations).set({ deletedAt: new Date() }).where(eq(organizations.id, org.id));
    expect(await sqlstate(db.update(agents).set({ orgId: org.id }).where(eq(agents.id, agent.id)))).toBe("23514");
  });

  test("the internal organization cannot be deactivated, deleted or priced, and there is only one", async () => {
    expect(await sqlstate(db.update(organizations).set({ isActive: false }).where(eq(organizations.id, INTERNAL_ORG_ID)))).toBe("23514");
    expect(await sqlstate(db.update(organizations).set({ billingRatePerAgent: "1.00" }).where(eq(organizations.id, INTERNAL_ORG_ID)))).toBe("23514");
    expect(await sqlstate(db.update(organizations).set({ deletedAt: new Date() }).where(eq(organizations.id, INTERNAL_ORG_ID)))).toBe("23514");
    expect(await sqlstate(db.insert(organizations).values({ name: "Second", slug: "second-internal", isInternal: true }))).toBe("23505");
  });

  test("slugs must match the pattern and currencies the list", async () => {
    expect(await sqlstate(db.insert(organizations).values({ name: "Bad", slug: "Bad Slug" }))).toBe("23514");
    expect(await sqlstate(db.insert(organizations).values({ name: "Bad", slug: "0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a" }))).toBe("23514");
    expect(await sqlstate(db.insert(organizations).values({ name: "Bad", slug: "bad-currency", currency: "JPY" }))).toBe("23514");
    expect(await sqlstate(db.insert(organizations).values({ name: "Bad", slug: "bad-rate", billingRatePerAgent: "-1" }))).toBe("23514");
  });
});
