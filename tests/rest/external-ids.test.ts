import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { ctxFor } from "../support/actors";
import { makeKey } from "../support/access";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { client, startTestServer } from "../support/http";

const database = await testDatabase();
const { base, api } = startTestServer(database);
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const orgA = await makeOrg(ctx, { created_at: BEFORE });
const orgB = await makeOrg(ctx, { created_at: BEFORE });
let n = 0;
const ext = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;

const stored = async (id: string) =>
  (await rows<{ agent_id: string; org_id: string }>(database.db, sql`select agent_id::text, org_id::text from usage_events where id = ${id}`))[0] ?? null;

describe("external ids of agents", () => {
  test("are set on create, shown, changed and removed by PATCH, and found by search", async () => {
    const id = ext("runtime/triage");
    const created = await api.post("/api/agents", { name: ext("Agent"), org_id: orgA.id, external_id: id });
    expect(created.status).toBe(201);
    expect(created.body.external_id).toBe(id);
    expect((await api.get(`/api/agents/${created.body.id}`)).body.external_id).toBe(id);
    expect((await api.get(`/api/agents?q=${encodeURIComponent(id)}`)).body.agents.map((a: any) => a.id)).toEqual([created.body.id]);
    const renamed = ext("runtime/intake");
    expect((await api.patch(`/api/agents/${created.body.id}`, { external_id: renamed })).body.external_id).toBe(renamed);
    expect((await api.patch(`/api/agents/${created.body.id}`, { external_id: "" })).body.external_id).toBeNull();
    const audit = await api.get(`/api/audit?org=${orgA.id}&action=agent.update&limit=5`);
    expect(JSON.stringify(audit.body.events[0])).toContain(renamed);
  });

  test("are unique among all agents: a taken one is a 409 naming the field, and nothing changes", async () => {
    const id = ext("shared");
    await makeAgent(ctx, { org_id: orgB.id, external_id: id });
    const res = await api.post("/api/agents", { name: ext("Agent"), org_id: orgA.id, external_id: id });
    expect(res.status).toBe(409);
    expect(res.body.errors).toEqual([{ path: "external_id", message: "is already used by another agent" }]);
    const other = await makeAgent(ctx, { org_id: orgA.id });
    const patch = await api.patch(`/api/agents/${other.id}`, { external_id: id });
    expect(patch.status).toBe(409);
    expect((await api.get(`/api/agents/${other.id}`)).body.external_id).toBeNull();
  });

  test("bad external ids are 400s naming the field", async () => {
    for (const bad of ["x".repeat(129), "two words", "tab\there", 42]) {
      const res = await api.post("/api/agents", { name: ext("Agent"), external_id: bad });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: any) => e.path)).toEqual(["external_id"]);
    }
  });

  test("POST /api/usage resolves agent_external_id, and also accepts an Orgdesk id there", async () => {
    const id = ext("ext-usage");
    const agent = await makeAgent(ctx, { org_id: orgA.id, external_id: id, created_at: BEFORE });
    const e1 = { id: ext("ev"), agent_external_id: id, model: "m", input_tokens: 10, output_tokens: 5, cost_usd: "0.01", occurred_at: "2025-06-01T00:00:00Z" };
    const e2 = { ...e1, id: ext("ev"), agent_external_id: agent.id };
    const res = await api.post("/api/usage", { events: [e1, e2] });
    expect(res.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await stored(e1.id)).toEqual({ agent_id: agent.id, org_id: orgA.id });
    expect(await stored(e2.id)).toEqual({ agent_id: agent.id, org_id: orgA.id });
    expect((await api.post("/api/usage", e1)).body).toMatchObject({ accepted: 0, duplicates: 1 });
  });

  test("a name is never a reference; an unknown reference, or both references, reject only that event", async () => {
    const agent = await makeAgent(ctx, { org_id: orgA.id, external_id: ext("named"), created_at: BEFORE });
    const good = { id: ext("ev"), agent_id: agent.id, model: "m", input_tokens: 1, output_tokens: 1, cost_usd: "0.01", occurred_at: "2025-06-01T00:00:00Z" };
    const byName = { ...good, id: ext("ev"), agent_id: undefined, agent_external_id: agent.name.replaceAll(" ", "-") };
    const both = { ...good, id: ext("ev"), agent_external_id: agent.external_id };
    const none = { ...good, id: ext("ev"), agent_id: undefined };
    const res = await api.post("/api/usage", { events: [good, byName, both, none] });
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected.map((r: any) => [r.index, r.code, r.message])).toEqual([
      [1, "unknown_agent", `agent_external_id: no agent ${byName.agent_external_id}`],
      [2, "invalid", "agent_external_id: give agent_id or agent_external_id, not both"],
      [3, "invalid", "agent_id: is required (or give agent_external_id)"],
    ]);
    for (const e of [byName, both, none]) expect(await stored(e.id)).toBeNull();
  });

  test("an organization-bound key cannot reach another organization's agent by its external id", async () => {
    const id = ext("tenant-b");
    const agentB = await makeAgent(ctx, { org_id: orgB.id, external_id: id, created_at: BEFORE });
    const keyA = client(base, (await makeKey(database, "usage", orgA.id)).key);
    const e = { id: ext("ev"), agent_external_id: id, model: "m", input_tokens: 1, output_tokens: 1, occurred_at: "2025-06-01T00:00:00Z" };
    const unknown = { ...e, id: ext("ev"), agent_external_id: ext("nobody") };
    const res = await keyA.post("/api/usage", { events: [e, unknown] });
    expect(res.body.accepted).toBe(0);
    // Refused exactly like a reference that names no agent.
    expect(res.body.rejected.map((r: any) => [r.code, r.message.replace(/no agent .*/, "no agent X")])).toEqual([
      ["unknown_agent", "agent_external_id: no agent X"],
      ["unknown_agent", "agent_external_id: no agent X"],
    ]);
    expect(JSON.stringify(res.body)).not.toContain(agentB.id);
    expect(await stored(e.id)).toBeNull();
  });
});
