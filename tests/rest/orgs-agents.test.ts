import { describe, expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { client, startTestServer } from "../support/http";

const database = await testDatabase();
const { api, base } = startTestServer(database);

const PROBLEM_KEYS = ["code", "detail", "error", "request_id", "status", "title", "type"];

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toStartWith("application/problem+json");
  for (const key of PROBLEM_KEYS) expect(res.body).toHaveProperty(key);
  expect(res.body.status).toBe(status);
  expect(res.body.code).toBe(code);
  expect(res.body.error).toBe(res.body.detail);
  expect(res.body.request_id).toBe(res.headers.get("x-request-id"));
  const text = JSON.stringify(res.body);
  expect(text).not.toMatch(/stack|at .*\.ts:|select |insert |update .* set|constraint|_key\b|_check\b/i);
}

describe("organizations over REST", () => {
  test("POST with the example of docs/api.md answers 201 with the Org shape", async () => {
    const res = await api.post("/api/organizations", {
      name: "AgenticMail",
      contact_name: "Dana",
      contact_email: "dana@agenticmail.example",
      billing_rate_per_agent: 99.0,
    });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(
      ["agent_count", "billing_rate_per_agent", "contact_email", "contact_name", "created_at", "currency", "description", "id", "is_active", "is_internal", "name", "slug", "updated_at"].sort(),
    );
    expect(res.body).toMatchObject({ slug: "agenticmail", billing_rate_per_agent: "99.00", currency: "USD", is_active: true });
  });

  test("a rate given as a string is accepted; three decimals are a 400 on that field", async () => {
    expect((await api.post("/api/organizations", { name: "String Rate", billing_rate_per_agent: "12.5" })).body.billing_rate_per_agent).toBe("12.50");
    const res = await api.post("/api/organizations", { name: "Too Precise", billing_rate_per_agent: 1.005 });
    expectProblem(res, 400, "validation");
    expect(res.body.errors).toEqual([{ path: "billing_rate_per_agent", message: "must have at most 2 decimal places" }]);
  });

  test("invalid input lists every invalid field and creates nothing", async () => {
    const before = await api.get("/api/organizations?limit=500");
    const res = await api.post("/api/organizations", { name: "", contact_email: "nope", currency: "XYZ", surprise: 1 });
    expectProblem(res, 400, "validation");
    expect(res.body.errors.map((e: any) => e.path).sort()).toEqual(["contact_email", "currency", "name", "surprise"].sort());
    const after = await api.get("/api/organizations?limit=500");
    expect(after.body.organizations.length).toBe(before.body.organizations.length);
  });

  test("GET by id and by slug, PATCH, toggle and DELETE", async () => {
    const created = (await api.post("/api/organizations", { name: "Lifecycle Co" })).body;
    expect((await api.get(`/api/organizations/${created.slug}`)).body.id).toBe(created.id);
    const patched = await api.patch(`/api/organizations/${created.id}`, { description: "Our favourite client", billing_rate_per_agent: "10" });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ description: "Our favourite client", billing_rate_per_agent: "10.00" });
    expect((await api.post(`/api/organizations/${created.id}/toggle`)).body).toEqual({ id: created.id, is_active: false });
    expect((await api.post(`/api/organizations/${created.id}/toggle`, { is_active: false })).body).toEqual({ id: created.id, is_active: false });
    expect((await api.post(`/api/organizations/${created.id}/toggle`, { is_active: true })).body).toEqual({ id: created.id, is_active: true });
    expect((await api.delete(`/api/organizations/${created.slug}`)).body).toEqual({ success: true, id: created.id, slug: created.slug });
    expectProblem(await api.get(`/api/organizations/${created.id}`), 404, "not_found");
  });

  test("PATCH of the slug is a 400 naming the field; repeating the current slug is a no-op", async () => {
    const created = (await api.post("/api/organizations", { name: "Fixed Slug" })).body;
    const res = await api.patch(`/api/organizations/${created.id}`, { slug: "other" });
    expectProblem(res, 400, "validation");
    expect(res.body.errors).toEqual([{ path: "slug", message: "cannot be changed after creation" }]);
    // A client that sends back the organization it read, with one field changed.
    const { id: _id, is_active: _a, is_internal: _i, agent_count: _c, created_at: _cr, updated_at: _u, ...editable } = created;
    const echoed = await api.patch(`/api/organizations/${created.slug}`, { ...editable, description: "edited" });
    expect(echoed.status).toBe(200);
    expect(echoed.body).toMatchObject({ slug: created.slug, description: "edited" });
  });

  test("DELETE of an organization with agents is a 409 with a clear message", async () => {
    const org = (await api.post("/api/organizations", { name: "Busy Co" })).body;
    await api.post("/api/agents", { name: "Busy Agent", org_id: org.id });
    const res = await api.delete(`/api/organizations/${org.id}`);
    expectProblem(res, 409, "conflict");
    expect(res.body.detail).toBe("The organization still has 1 agent; move or unassign it first");
  });

  test("list: limit bounds and a bad cursor are 400s", async () => {
    expectProblem(await api.get("/api/organizations?limit=501"), 400, "validation");
    expectProblem(await api.get("/api/organizations?limit=0"), 400, "validation");
    expectProblem(await api.get("/api/organizations?status=sleeping"), 400, "validation");
    const bad = await api.get("/api/organizations?cursor=garbage");
    expectProblem(bad, 400, "validation");
    expect(bad.body.errors[0].path).toBe("cursor");
  });
});

describe("agents over REST", () => {
  test("create, patch billingRate, assign-org, unassign-org", async () => {
    const a = (await api.post("/api/organizations", { name: "Rest Source", billing_rate_per_agent: 30 })).body;
    const b = (await api.post("/api/organizations", { name: "Rest Target", billing_rate_per_agent: 40, currency: "EUR" })).body;
    const agent = await api.post("/api/agents", { name: "Rest Agent", email: "rest@example.com", org_id: a.slug });
    expect(agent.status).toBe(201);
    expect(agent.body).toMatchObject({ org_id: a.id, org_slug: a.slug, effective_rate: "30.00", rate_source: "default" });
    const custom = await api.patch(`/api/agents/${agent.body.id}`, { billingRate: 35 });
    expect(custom.body).toMatchObject({ billing_rate: "35.00", effective_rate: "35.00", rate_source: "custom" });
    const moved = await api.post(`/api/agents/${agent.body.id}/assign-org`, { orgId: b.slug });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ success: true, reassigned: true, previousOrgId: a.id, orgId: b.id, rateCleared: true });
    expect(moved.body.agent).toMatchObject({ org_id: b.id, billing_rate: null, effective_rate: "40.00" });
    const back = await api.post(`/api/agents/${agent.body.id}/unassign-org`);
    expect(back.body).toEqual({ success: true, previousOrgId: b.id, orgId: "00000000-0000-4000-8000-000000000001" });
    const list = await api.get(`/api/agents?org=internal&q=Rest%20Agent`);
    expect(list.body.agents.map((x: any) => x.id)).toEqual([agent.body.id]);
  });

  test("billing_rate alias and null reset", async () => {
    const agent = (await api.post("/api/agents", { name: "Alias Agent" })).body;
    expect((await api.patch(`/api/agents/${agent.id}`, { billing_rate: "0" })).body.billing_rate).toBe("0.00");
    expect((await api.patch(`/api/agents/${agent.id}`, { billingRate: null })).body.billing_rate).toBeNull();
  });

  test("assign-org without an organization is a 400; to an unknown one a 404", async () => {
    const agent = (await api.post("/api/agents", { name: "Lonely Agent" })).body;
    const missing = await api.post(`/api/agents/${agent.id}/assign-org`, {});
    expectProblem(missing, 400, "validation");
    expect(missing.body.errors).toEqual([{ path: "orgId", message: "is required" }]);
    expectProblem(await api.post(`/api/agents/${agent.id}/assign-org`, { orgId: "ghost-org" }), 404, "not_found");
  });

  test("unknown or malformed agent ids are 404", async () => {
    expectProblem(await api.get(`/api/agents/${crypto.randomUUID()}`), 404, "not_found");
    expectProblem(await api.get(`/api/agents/not-a-uuid`), 404, "not_found");
    expectProblem(await api.patch(`/api/agents/${crypto.randomUUID()}`, { name: "x" }), 404, "not_found");
  });

  test("a duplicate name is a 409 naming the field", async () => {
    await api.post("/api/agents", { name: "Twin Agent" });
    const res = await api.post("/api/agents", { name: "Twin Agent" });
    expectProblem(res, 409, "conflict");
    expect(res.body.errors).toEqual([{ path: "name", message: "is already used by another active agent of the organization" }]);
  });
});

describe("HTTP behaviour common to every route", () => {
  test("every response carries X-Request-Id, and a sane incoming one is echoed", async () => {
    const res = await fetch(`${base}/api/health`, { headers: { "x-request-id": "trace-abc-123" } });
    expect(res.headers.get("x-request-id")).toBe("trace-abc-123");
    const other = await fetch(`${base}/api/organizations`);
    expect(other.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await fetch(`${base}/api/health`, { headers: { "x-request-id": "<script>" } });
    expect(hostile.headers.get("x-request-id")).not.toBe("<script>");
  });

  test("no credentials or a wrong key is a 401; both header forms work", async () => {
    expectProblem(await client(base).get("/api/organizations"), 401, "unauthorized");
    expectProblem(await client(base, "wrong").get("/api/organizations"), 401, "unauthorized");
    const bearer = await fetch(`${base}/api/organizations`, { headers: { authorization: "Bearer test-admin-key" } });
    expect(bearer.status).toBe(200);
  });

  test("health and the API docs need no credentials", async () => {
    expect((await client(base).get("/api/health")).body).toEqual({ status: "ok", database: "up" });
    const doc = await client(base).get("/api/openapi.json");
    expect(doc.body.openapi).toBe("3.1.0");
    expect(Object.keys(doc.body.paths)).toContain("/api/organizations/{id}/toggle");
    const page = await fetch(`${base}/api/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/api/agents/{id}/assign-org");
  });

  test("a non-JSON body is a 415; malformed JSON a 400; an oversized body a 413", async () => {
    expectProblem(await api.post("/api/organizations", "name=x", { "content-type": "application/x-www-form-urlencoded" }), 415, "unsupported_media_type");
    expectProblem(await api.post("/api/organizations", "{not json", { "content-type": "application/json" }), 400, "bad_request");
    expectProblem(await api.post("/api/organizations", JSON.stringify({ name: "x".repeat(3 * 1024 * 1024) })), 413, "payload_too_large");
  });

  test("an oversized body without Content-Length (chunked) is still a 413", async () => {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (sent++ < 50) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${base}/api/organizations`, { method: "POST", headers: { "x-api-key": "test-admin-key", "content-type": "application/json" }, body: stream });
    expect(res.status).toBe(413);
  });

  test("unknown API paths are 404 problems and wrong methods 405", async () => {
    expectProblem(await api.get("/api/nothing-here"), 404, "not_found");
    const res = await api.put("/api/organizations", {});
    expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toContain("GET");
  });
});
