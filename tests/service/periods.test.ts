import { describe, expect, test } from "bun:test";
import { INTERNAL_ORG_ID } from "../../db/schema";
import type { Principal } from "../../server/auth/principal";
import type { Ctx } from "../../server/context";
import { agentCreateInput, agentUpdateInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import * as billing from "../../server/modules/billing/service";
import { orgCreateInput } from "../../server/modules/orgs/schema";
import * as orgs from "../../server/modules/orgs/service";
import { ctxFor, platformKey, user } from "../support/actors";
import { moveAgent, setAgentRate, setAgentStatus, setOrgActive, setOrgRate } from "../support/billing";
import { databaseChecksum } from "../support/checksum";
import { testDatabase } from "../support/db";
import { failure } from "../support/failures";
import { makeAgent, makeOrg } from "../support/factories";

/**
 * Every path that changes an interval history (organization status and rate, agent rate, status
 * and assignment, and the first intervals at creation) against every bound of backdating
 * (docs/billing.md, "Changing the past"): the future, the open interval's start, the start of the
 * agent's current assignment, the agent's last rate and status change for a move, and the
 * organization's creation. A refused change is a 400 naming the field and the bound, and writes
 * nothing at all (the whole database is compared).
 */
const database = await testDatabase();
const platform = ctxFor(database);
const JAN = "2024-01-01T00:00:00Z";
const MAR = "2024-03-01T00:00:00Z";
const JUN = "2024-06-01T00:00:00Z";
const JUL = "2024-07-01T00:00:00Z";
const AUG = "2024-08-01T00:00:00Z";
const iso = (at: string) => new Date(at).toISOString();
const FUTURE = new Date(Date.now() + 3_600_000).toISOString();

/** Alpha (50.00) and Beta (70.00) created in January 2024; an agent created in Beta, moved to Alpha on 1 June. */
async function alphaBeta() {
  const alpha = await makeOrg(platform, { name: `Alpha ${crypto.randomUUID().slice(0, 6)}`, billing_rate_per_agent: "50.00", created_at: JAN });
  const beta = await makeOrg(platform, { name: `Beta ${crypto.randomUUID().slice(0, 6)}`, billing_rate_per_agent: "70.00", created_at: JAN });
  const agent = await makeAgent(platform, { org_id: beta.id, created_at: JAN });
  await moveAgent(platform, agent.id, alpha.id, JUN);
  return { alpha, beta, agent };
}

/** Principals that may change Alpha's agents' rates and statuses: platform staff and Alpha-bound ones. */
const changersOf = (alphaId: string): [string, Principal][] => [
  ["a platform write key", platformKey],
  ["an Alpha-scoped write key", { kind: "api_key", keyId: "k-alpha", prefix: "odk_alpha", permission: "write", orgId: alphaId }],
  ["an Alpha-bound admin", user("admin", alphaId)],
];

const marchOf = (orgId: string) => billing.records({ ctx: platform, input: { id: orgId, from: "2024-03", to: "2024-03" } });

/** The change fails with a 400 on `field` naming `bound`, and the database is exactly as before. */
async function refused(change: () => Promise<unknown>, field: string, message: string) {
  const before = await databaseChecksum(database.db);
  const err = await failure(change());
  expect({ code: err.code, errors: err.errors }).toEqual({ code: "VALIDATION", errors: [{ path: field, message }] });
  expect(err.message).toBe(`${field}: ${message}`);
  expect(await databaseChecksum(database.db)).toBe(before);
}

describe("changing the past of an agent: never before its current assignment", () => {
  test("the reproduction: a backdated rate change into the agent's time in Beta is a 400 for every principal, and Beta's bill is unchanged", async () => {
    const { alpha, beta, agent } = await alphaBeta();
    const march = await marchOf(beta.id);
    expect(march.records).toMatchObject([{ agent_id: agent.id, rate: "70.00", rate_source: "default", revenue: "70.00" }]);
    for (const [, principal] of changersOf(alpha.id)) {
      const ctx = ctxFor(database, principal);
      await refused(() => setAgentRate(ctx, agent.id, "1.00", MAR), "effective_at", `must not be before the start of the agent's current assignment (${iso(JUN)})`);
      await refused(() => setAgentStatus(ctx, agent.id, "archived", MAR), "effective_at", `must not be before the start of the agent's current assignment (${iso(JUN)})`);
    }
    expect(await marchOf(beta.id)).toEqual(march);
  });

  test("at the start of the current assignment the change is accepted, and only Alpha's bill moves", async () => {
    const { alpha, beta, agent } = await alphaBeta();
    const betaBill = await billing.records({ ctx: platform, input: { id: beta.id, from: "2024-01", to: "2024-07" } });
    const alphaKey = ctxFor(database, changersOf(alpha.id)[1]![1]);
    await setAgentRate(alphaKey, agent.id, "10.00", JUN);
    expect(await billing.records({ ctx: platform, input: { id: beta.id, from: "2024-01", to: "2024-07" } })).toEqual(betaBill);
    const june = await billing.records({ ctx: platform, input: { id: alpha.id, from: "2024-06", to: "2024-06" } });
    expect(june.records).toMatchObject([{ agent_id: agent.id, rate: "10.00", rate_source: "custom", revenue: "10.00" }]);
  });

  test("an agent that came from the internal pool cannot be given a rate for its time there", async () => {
    const alpha = await makeOrg(platform, { billing_rate_per_agent: "50.00", created_at: JAN });
    const agent = await makeAgent(platform, { created_at: JAN });
    expect(agent.org_id).toBe(INTERNAL_ORG_ID);
    await moveAgent(platform, agent.id, alpha.id, JUN);
    const internalMarch = await marchOf(INTERNAL_ORG_ID);
    await refused(() => setAgentRate(platform, agent.id, "99.00", MAR), "effective_at", `must not be before the start of the agent's current assignment (${iso(JUN)})`);
    expect(await marchOf(INTERNAL_ORG_ID)).toEqual(internalMarch);
    expect(internalMarch.records.every((r) => r.revenue === "0.00")).toBe(true);
  });

  test("a rate or status change may not precede the last change of its own kind", async () => {
    const { alpha, agent } = await alphaBeta();
    for (const [, principal] of changersOf(alpha.id)) {
      const ctx = ctxFor(database, principal);
      const fresh = await makeAgent(platform, { org_id: alpha.id, created_at: JAN });
      await setAgentRate(ctx, fresh.id, "20.00", AUG);
      await setAgentStatus(ctx, fresh.id, "archived", AUG);
      await refused(() => setAgentRate(ctx, fresh.id, "30.00", JUL), "effective_at", `must not be before the agent's last rate change (${iso(AUG)})`);
      await refused(() => setAgentStatus(ctx, fresh.id, "active", JUL), "effective_at", `must not be before the agent's last status change (${iso(AUG)})`);
    }
    await refused(() => setAgentRate(platform, agent.id, "30.00", FUTURE), "effective_at", "must not be in the future");
    await refused(() => setAgentStatus(platform, agent.id, "archived", FUTURE), "effective_at", "must not be in the future");
  });

  test("a change of both rate and status names the latest bound it crosses", async () => {
    const { agent } = await alphaBeta();
    await setAgentStatus(platform, agent.id, "archived", AUG);
    await setAgentStatus(platform, agent.id, "active", "2024-09-01T00:00:00Z");
    const both = () => agents.update({ ctx: platform, input: agentUpdateInput.parse({ id: agent.id, billing_rate: "5.00", status: "archived", effective_at: MAR }) });
    await refused(both, "effective_at", `must not be before the agent's last status change (${iso("2024-09-01T00:00:00Z")})`);
  });
});

describe("moving an agent: never before anything that belongs to its current assignment", () => {
  test("not before the current assignment started, for assign and unassign alike", async () => {
    const { agent } = await alphaBeta();
    const gamma = await makeOrg(platform, { created_at: JAN });
    await refused(() => moveAgent(platform, agent.id, gamma.id, MAR), "effective_at", `must not be before the start of the agent's current assignment (${iso(JUN)})`);
    await refused(() => agents.unassign({ ctx: platform, input: { id: agent.id, effective_at: new Date(MAR) } }), "effective_at", `must not be before the start of the agent's current assignment (${iso(JUN)})`);
    await refused(() => moveAgent(platform, agent.id, gamma.id, FUTURE), "effective_at", "must not be in the future");
  });

  test("not before the agent's last rate change, set or cleared (a custom rate belongs to the assignment)", async () => {
    const { agent } = await alphaBeta();
    const gamma = await makeOrg(platform, { created_at: JAN });
    await setAgentRate(platform, agent.id, "20.00", JUL);
    await refused(() => moveAgent(platform, agent.id, gamma.id, "2024-06-15T00:00:00Z"), "effective_at", `must not be before the agent's last rate change (${iso(JUL)})`);
    // Cleared again: the custom rate of July still lies in Alpha's time and must stay there.
    await setAgentRate(platform, agent.id, null, AUG);
    await refused(() => moveAgent(platform, agent.id, gamma.id, JUL), "effective_at", `must not be before the agent's last rate change (${iso(AUG)})`);
  });

  test("not before the agent's last status change (an archive belongs to the assignment it happened in)", async () => {
    const { agent } = await alphaBeta();
    const gamma = await makeOrg(platform, { created_at: JAN });
    await setAgentStatus(platform, agent.id, "archived", AUG);
    await refused(() => moveAgent(platform, agent.id, gamma.id, JUL), "effective_at", `must not be before the agent's last status change (${iso(AUG)})`);
  });

  test("not before the target organization was created", async () => {
    const { agent } = await alphaBeta();
    const late = await makeOrg(platform, { created_at: AUG });
    await refused(() => moveAgent(platform, agent.id, late.id, JUL), "effective_at", `must not be before the target organization's creation (${iso(AUG)})`);
    // At the bound it is accepted: the old interval closes exactly where the new one opens.
    const moved = await moveAgent(platform, agent.id, late.id, AUG);
    expect(moved).toMatchObject({ reassigned: true, orgId: late.id });
  });

  test("an organization-bound principal may not move agents at all, and writes nothing trying", async () => {
    const { alpha, agent } = await alphaBeta();
    for (const [name, principal] of changersOf(alpha.id).slice(1)) {
      const before = await databaseChecksum(database.db);
      const err = await failure(moveAgent(ctxFor(database, principal), agent.id, INTERNAL_ORG_ID, JUL));
      expect({ name, code: err.code }).toEqual({ name, code: "FORBIDDEN" });
      expect(await databaseChecksum(database.db)).toBe(before);
    }
  });
});

describe("changing the past of an organization", () => {
  test("a rate change may precede neither the organization's last rate change nor its creation, nor lie in the future", async () => {
    const org = await makeOrg(platform, { billing_rate_per_agent: "40.00", created_at: MAR });
    await refused(() => setOrgRate(platform, org.id, "45.00", JAN), "effective_at", `must not be before the organization's creation (${iso(MAR)})`);
    await setOrgRate(platform, org.id, "45.00", JUN);
    const bound: Ctx = ctxFor(database, user("admin", org.id));
    await refused(() => setOrgRate(bound, org.id, "46.00", MAR), "effective_at", `must not be before the organization's last rate change (${iso(JUN)})`);
    await refused(() => setOrgRate(bound, org.id, "46.00", FUTURE), "effective_at", "must not be in the future");
  });

  test("a toggle may precede neither the organization's last status change nor its creation, nor lie in the future", async () => {
    const org = await makeOrg(platform, { created_at: MAR });
    await refused(() => setOrgActive(platform, org.id, false, JAN), "effective_at", `must not be before the organization's creation (${iso(MAR)})`);
    await setOrgActive(platform, org.id, false, JUN);
    await refused(() => setOrgActive(platform, org.id, true, MAR), "effective_at", `must not be before the organization's last status change (${iso(JUN)})`);
    await refused(() => setOrgActive(platform, org.id, true, FUTURE), "effective_at", "must not be in the future");
  });
});

describe("the first intervals, at creation", () => {
  test("an agent may not be created before its organization, nor in the future", async () => {
    const org = await makeOrg(platform, { created_at: MAR });
    const create = (ctx: Ctx, created_at: string) => agents.create({ ctx, input: agentCreateInput.parse({ name: `Early ${crypto.randomUUID().slice(0, 8)}`, org_id: org.id, created_at }) });
    await refused(() => create(platform, JAN), "created_at", `must not be before the organization's creation (${iso(MAR)})`);
    await refused(() => create(ctxFor(database, user("member", org.id)), JAN), "created_at", `must not be before the organization's creation (${iso(MAR)})`);
    await refused(() => create(platform, FUTURE), "created_at", "must not be in the future");
  });

  test("an organization may not be created in the future", async () => {
    await refused(() => orgs.create({ ctx: platform, input: orgCreateInput.parse({ name: "Tomorrow Co", created_at: FUTURE }) }), "created_at", "must not be in the future");
  });
});
