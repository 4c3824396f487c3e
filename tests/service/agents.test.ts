import { describe, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { agentAssignments, agentRatePeriods, INTERNAL_ORG_ID } from "../../db/schema";
import { agentAssignInput, agentUpdateInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import * as orgs from "../../server/modules/orgs/service";
import { ctxFor, readKey, user } from "../support/actors";
import { testDatabase } from "../support/db";
import { failure } from "../support/failures";
import { makeAgent, makeOrg } from "../support/factories";

const database = await testDatabase();
const ctx = ctxFor(database);


const update = (input: Record<string, unknown>) => agents.update({ ctx, input: agentUpdateInput.parse(input) });
const assign = (input: Record<string, unknown>) => agents.assign({ ctx, input: agentAssignInput.parse(input) });

const history = (agentId: string) =>
  database.db.select().from(agentAssignments).where(eq(agentAssignments.agentId, agentId)).orderBy(asc(agentAssignments.startsAt), asc(agentAssignments.id));

describe("creating agents", () => {
  test("a new agent starts in the internal organization with an open interval", async () => {
    const agent = await makeAgent(ctx, { name: "Scout" });
    expect(agent).toMatchObject({ org_id: INTERNAL_ORG_ID, org_slug: "internal", status: "active", effective_status: "active", billing_rate: null, rate_source: "default" });
    const intervals = await history(agent.id);
    expect(intervals).toHaveLength(1);
    expect(intervals[0]!.endsAt).toBeNull();
  });

  test("org_id accepts a slug and the agent inherits the org's rate", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "42.00" });
    const agent = await makeAgent(ctx, { org_id: org.slug });
    expect(agent.org_id).toBe(org.id);
    expect(agent.effective_rate).toBe("42.00");
  });

  test("names are unique among non-archived agents, case-insensitively", async () => {
    await makeAgent(ctx, { name: "Unique Bot" });
    const err = await failure(makeAgent(ctx, { name: "unique bot" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.errors?.[0]?.path).toBe("name");
  });

  test("an archived agent's name can be reused", async () => {
    const old = await makeAgent(ctx, { name: "Phoenix" });
    await update({ id: old.id, status: "archived" });
    const fresh = await makeAgent(ctx, { name: "Phoenix" });
    expect(fresh.id).not.toBe(old.id);
    const err = await failure(update({ id: old.id, status: "active" }));
    expect(err.code).toBe("CONFLICT");
  });

  test("emails are unique among the active agents of an organization, case-insensitively", async () => {
    await makeAgent(ctx, { email: "bot@example.com" });
    const err = await failure(makeAgent(ctx, { email: "BOT@example.com" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.errors).toEqual([{ path: "email", message: "is already used by another active agent of the organization" }]);
  });

  test("the same name and email may exist in two organizations: an organization-bound creator learns nothing about the other", async () => {
    const a = await makeOrg(ctx, { name: "Names Alpha" });
    const b = await makeOrg(ctx, { name: "Names Beta" });
    await makeAgent(ctx, { org_id: b.id, name: "Scout", email: "scout@names.example" });
    const boundMember = ctxFor(database, user("member", a.id));
    const mine = await makeAgent(boundMember, { name: "scout", email: "SCOUT@names.example" });
    expect(mine).toMatchObject({ org_id: a.id, name: "scout" });
    // Within one organization the name and the email are still taken.
    for (const clash of [{ name: "SCOUT" }, { name: "Other Scout", email: "scout@names.example" }]) {
      const err = await failure(makeAgent(boundMember, clash));
      expect(err.code).toBe("CONFLICT");
    }
  });

  test("an archived agent's email can be reused; unarchiving it then is a 409", async () => {
    const org = await makeOrg(ctx);
    const old = await makeAgent(ctx, { org_id: org.id, email: "reuse@names.example" });
    await update({ id: old.id, status: "archived" });
    await makeAgent(ctx, { org_id: org.id, email: "reuse@names.example" });
    const err = await failure(update({ id: old.id, status: "active" }));
    expect(err.errors).toEqual([{ path: "email", message: "is already used by another active agent of the organization" }]);
  });

  test("an agent cannot be backdated before its organization existed", async () => {
    const org = await makeOrg(ctx, { created_at: "2025-06-01T00:00:00Z" });
    const err = await failure(makeAgent(ctx, { org_id: org.id, created_at: "2025-05-01T00:00:00Z" }));
    expect(err.errors?.[0]?.path).toBe("created_at");
    expect(err.message).toContain("organization's creation");
  });

  test("an agent cannot be created in an unknown organization", async () => {
    expect((await failure(makeAgent(ctx, { org_id: "nowhere" }))).code).toBe("NOT_FOUND");
  });
});

describe("rates", () => {
  test("a custom rate overrides the default; null inherits again; 0.00 is free", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: 99 });
    const agent = await makeAgent(ctx, { org_id: org.id });
    const custom = await update({ id: agent.id, billingRate: "120.5" });
    expect(custom).toMatchObject({ billing_rate: "120.50", effective_rate: "120.50", rate_source: "custom" });
    const free = await update({ id: agent.id, billing_rate: 0 });
    expect(free).toMatchObject({ billing_rate: "0.00", effective_rate: "0.00", rate_source: "custom" });
    const inherit = await update({ id: agent.id, billingRate: null });
    expect(inherit).toMatchObject({ billing_rate: null, effective_rate: "99.00", rate_source: "default" });
    const periods = await database.db.select().from(agentRatePeriods).where(eq(agentRatePeriods.agentId, agent.id)).orderBy(asc(agentRatePeriods.startsAt), asc(agentRatePeriods.id));
    expect(periods.map((p) => p.rate)).toEqual([null, "120.50", "0.00", null]);
  });

  test("billingRate and billing_rate disagreeing is refused", () => {
    const result = agentUpdateInput.safeParse({ id: crypto.randomUUID(), billingRate: 1, billing_rate: 2 });
    expect(result.success).toBe(false);
  });

  test("over-precise and negative rates are refused", () => {
    expect(agentUpdateInput.safeParse({ id: crypto.randomUUID(), billingRate: 1.234 }).success).toBe(false);
    expect(agentUpdateInput.safeParse({ id: crypto.randomUUID(), billingRate: "-1" }).success).toBe(false);
  });
});

describe("moving agents", () => {
  test("assigning to another organization closes the old interval and opens a new one at the same instant", async () => {
    const a = await makeOrg(ctx);
    const b = await makeOrg(ctx);
    const agent = await makeAgent(ctx, { org_id: a.id });
    const result = await assign({ id: agent.id, orgId: b.slug });
    expect(result).toMatchObject({ success: true, reassigned: true, previousOrgId: a.id, orgId: b.id, rateCleared: false });
    expect(result.agent.org_id).toBe(b.id);
    const intervals = await history(agent.id);
    expect(intervals.map((i) => i.orgId)).toEqual([a.id, b.id]);
    expect(intervals[0]!.endsAt!.getTime()).toBe(intervals[1]!.startsAt.getTime());
    expect(intervals[1]!.endsAt).toBeNull();
  });

  test("a move clears the custom rate and says so", async () => {
    const a = await makeOrg(ctx, { billing_rate_per_agent: 10 });
    const b = await makeOrg(ctx, { billing_rate_per_agent: 20 });
    const agent = await makeAgent(ctx, { org_id: a.id });
    await update({ id: agent.id, billingRate: 15 });
    const result = await assign({ id: agent.id, org_id: b.id });
    expect(result.rateCleared).toBe(true);
    expect(result.agent).toMatchObject({ billing_rate: null, effective_rate: "20.00", rate_source: "default" });
  });

  test("assigning to the current organization changes nothing", async () => {
    const a = await makeOrg(ctx);
    const agent = await makeAgent(ctx, { org_id: a.id });
    const result = await assign({ id: agent.id, orgId: a.id });
    expect(result).toMatchObject({ reassigned: false, previousOrgId: a.id, orgId: a.id, rateCleared: false });
    expect(await history(agent.id)).toHaveLength(1);
  });

  test("unassign returns the agent to internal", async () => {
    const a = await makeOrg(ctx);
    const agent = await makeAgent(ctx, { org_id: a.id });
    expect(await agents.unassign({ ctx, input: { id: agent.id } })).toEqual({ success: true, previousOrgId: a.id, orgId: INTERNAL_ORG_ID });
    expect((await agents.get({ ctx, input: { id: agent.id } })).org_slug).toBe("internal");
  });

  test("backdated moves must fall inside the current assignment and not in the future", async () => {
    const a = await makeOrg(ctx, { created_at: "2025-01-01T00:00:00Z" });
    const b = await makeOrg(ctx, { created_at: "2025-01-01T00:00:00Z" });
    const agent = await makeAgent(ctx, { org_id: a.id, created_at: "2025-02-01T00:00:00Z" });
    const before = await failure(assign({ id: agent.id, orgId: b.id, effective_at: "2025-01-20T00:00:00Z" }));
    expect(before.message).toContain("current assignment");
    const future = await failure(assign({ id: agent.id, orgId: b.id, effective_at: new Date(Date.now() + 60_000).toISOString() }));
    expect(future.errors?.[0]).toEqual({ path: "effective_at", message: "must not be in the future" });
    await assign({ id: agent.id, orgId: b.id, effective_at: "2025-02-10T00:00:00Z" });
    const intervals = await history(agent.id);
    expect(intervals.map((i) => [i.startsAt.toISOString(), i.endsAt?.toISOString() ?? null])).toEqual([
      ["2025-02-01T00:00:00.000Z", "2025-02-10T00:00:00.000Z"],
      ["2025-02-10T00:00:00.000Z", null],
    ]);
  });

  test("a move into an organization that already has the agent's name or email is a 409 and changes nothing", async () => {
    const from = await makeOrg(ctx);
    const to = await makeOrg(ctx);
    await makeAgent(ctx, { org_id: to.id, name: "Courier", email: "courier@to.example" });
    const sameName = await makeAgent(ctx, { org_id: from.id, name: "COURIER" });
    const sameEmail = await makeAgent(ctx, { org_id: from.id, name: "Other Courier", email: "Courier@to.example" });
    for (const [agent, field] of [[sameName, "name"], [sameEmail, "email"]] as const) {
      const err = await failure(assign({ id: agent.id, org_id: to.id }));
      expect({ code: err.code, errors: err.errors }).toEqual({ code: "CONFLICT", errors: [{ path: field, message: "is already used by another active agent of the organization" }] });
      expect((await history(agent.id)).map((h) => [h.orgId, h.endsAt])).toEqual([[from.id, null]]);
      expect((await agents.get({ ctx, input: { id: agent.id } })).org_id).toBe(from.id);
    }
    // An archived agent does not hold its name: it may move in, and then not be unarchived there.
    await update({ id: sameName.id, status: "archived" });
    expect((await assign({ id: sameName.id, org_id: to.id })).reassigned).toBe(true);
    expect((await failure(update({ id: sameName.id, status: "active" }))).code).toBe("CONFLICT");
  });

  test("assigning to a deleted or unknown organization is NOT_FOUND", async () => {
    const gone = await makeOrg(ctx);
    await orgs.delete({ ctx, input: { id: gone.id } });
    const agent = await makeAgent(ctx);
    expect((await failure(assign({ id: agent.id, orgId: gone.id }))).code).toBe("NOT_FOUND");
    expect((await failure(assign({ id: agent.id, orgId: "missing" }))).code).toBe("NOT_FOUND");
    expect((await failure(assign({ id: crypto.randomUUID(), orgId: gone.id }))).code).toBe("NOT_FOUND");
  });
});

describe("listing agents", () => {
  test("filters by organization, effective status and text", async () => {
    const org = await makeOrg(ctx, { name: "Filterable" });
    const live = await makeAgent(ctx, { org_id: org.id, name: "Filter Live" });
    const gone = await makeAgent(ctx, { org_id: org.id, name: "Filter Gone" });
    await update({ id: gone.id, status: "archived" });
    const inOrg = await agents.list({ ctx, input: { org: org.slug, limit: 100 } });
    expect(inOrg.agents.map((a) => a.name)).toEqual(["Filter Gone", "Filter Live"]);
    expect((await agents.list({ ctx, input: { org: org.id, status: "archived", limit: 100 } })).agents.map((a) => a.id)).toEqual([gone.id]);
    await orgs.toggle({ ctx, input: { id: org.id } });
    expect((await agents.list({ ctx, input: { org: org.id, status: "suspended", limit: 100 } })).agents).toHaveLength(2);
    expect((await agents.list({ ctx, input: { org: org.id, status: "active", limit: 100 } })).agents).toHaveLength(0);
    expect((await agents.list({ ctx, input: { q: "filter li", limit: 100 } })).agents.map((a) => a.id)).toEqual([live.id]);
  });

  test("pages by cursor without repeats or gaps", async () => {
    const org = await makeOrg(ctx);
    for (let i = 0; i < 7; i++) await makeAgent(ctx, { org_id: org.id, name: `Pager ${i}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await agents.list({ ctx, input: { org: org.id, limit: 3, cursor } });
      seen.push(...page.agents.map((a) => a.name));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `Pager ${i}`));
  });

  test("the assign list shows every agent elsewhere with where it comes from", async () => {
    const a = await makeOrg(ctx, { name: "Assign Source" });
    const b = await makeOrg(ctx, { name: "Assign Target" });
    const mover = await makeAgent(ctx, { org_id: a.id, name: "Assignable One" });
    await makeAgent(ctx, { org_id: b.id, name: "Assignable Two" });
    const list = await agents.assignable({ ctx, input: { org_id: b.id, q: "Assignable" } });
    expect(list).toEqual([
      { id: mover.id, name: "Assignable One", effective_status: "active", from_org_id: a.id, from_org_name: "Assign Source", label: "[from Assign Source]", has_custom_rate: false },
    ]);
  });

  test("an organization-bound principal gets no assign list at all, not even an empty one (it may not move agents)", async () => {
    const own = await makeOrg(ctx, { name: "Assign Bound Own" });
    await makeAgent(ctx, { name: "Assignable Elsewhere" });
    for (const principal of [user("admin", own.id), user("member", own.id), readKey(own.id), user("viewer")]) {
      const err = await failure(agents.assignable({ ctx: ctxFor(database, principal), input: { org_id: own.id } }));
      expect(err.code).toBe("FORBIDDEN");
    }
  });
});
