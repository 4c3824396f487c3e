import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { agentPath } from "../../server/rest/params";
import { defineRoute } from "../../server/rest/route";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

/**
 * How a REST route reads its request (server/rest/mount.ts): any JSON media type our check accepts
 * reaches validation; a path id that cannot exist is the resource's 404; a repeated query parameter
 * is refused; a path with parameters must declare their schema.
 */
const database = await testDatabase();
const { base, api } = startTestServer(database);
const org = (await api.post("/api/organizations", { name: "Routes Target" })).body;

describe("reading a request", () => {
  test("every JSON media type our check accepts reaches validation with its body, spelled as clients spell it", async () => {
    for (const type of ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8", "application/json ; charset=utf-8", "application/vnd.orgdesk+json", "application/merge-patch+json"]) {
      const res = await api.patch(`/api/organizations/${org.id}`, { description: `via ${type}` }, { "content-type": type });
      expect({ type, status: res.status, description: res.body.description }).toEqual({ type, status: 200, description: `via ${type}` });
    }
  });

  test("an absent optional body reads as an empty one: toggle without a body flips, whatever content type is declared", async () => {
    const before = (await api.get(`/api/organizations/${org.id}`)).body.is_active;
    const flipped = await api.post(`/api/organizations/${org.id}/toggle`);
    expect(flipped.status).toBe(200);
    expect(flipped.body.is_active).toBe(!before);
    const flippedBack = await api.post(`/api/organizations/${org.id}/toggle`, "", { "content-type": "text/plain" });
    expect(flippedBack.body.is_active).toBe(before);
  });

  test("a body that is JSON null is not an absent body: a 400, for optional bodies and the usage envelope alike", async () => {
    for (const path of [`/api/organizations/${org.id}/toggle`, "/api/usage"]) {
      const res = await api.post(path, "null");
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 400, code: "validation" });
    }
  });

  test("a query parameter given twice is a 400 naming it; an unknown one given twice is ignored", async () => {
    const twice = await api.get("/api/organizations?limit=5&limit=500&q=a&q=b");
    expect(twice.status).toBe(400);
    expect(twice.body.errors).toEqual([
      { path: "limit", message: "is given more than once" },
      { path: "q", message: "is given more than once" },
    ]);
    expect((await api.get("/api/organizations?utm=1&utm=2")).status).toBe(200);
  });

  test("a path id that cannot exist answers exactly like an unknown one", async () => {
    const unknown = await api.get(`/api/agents/${crypto.randomUUID()}`);
    for (const id of ["not-a-uuid", "x".repeat(300), "00000000-0000-4000-8000-00000000000g"]) {
      const res = await api.get(`/api/agents/${id}`);
      expect({ id, status: res.status, detail: res.body.detail, code: res.body.code }).toEqual({ id, status: 404, detail: unknown.body.detail, code: "not_found" });
    }
    const unknownOrg = await api.get(`/api/organizations/${crypto.randomUUID()}`);
    const tooLong = await api.get(`/api/organizations/${"x".repeat(300)}`);
    expect([tooLong.status, tooLong.body.detail]).toEqual([404, unknownOrg.body.detail]);
  });

  test("a malformed path id is a 404 before the body is validated, and credentials come first of all", async () => {
    expect((await api.patch("/api/agents/not-a-uuid", { name: 42 })).status).toBe(404);
    const anonymous = await fetch(`${base}/api/agents/not-a-uuid`, { method: "PATCH", headers: { "content-type": "text/plain" }, body: "x" });
    expect(anonymous.status).toBe(401);
  });
});

describe("declaring a route", () => {
  test("a path with parameters must declare them", () => {
    expect(() => defineRoute({ method: "get", path: "/api/things/:id", tag: "T", summary: "s", handler: async () => new Response() })).toThrow("must declare its path parameters");
    expect(() => defineRoute({ method: "get", path: "/api/things/:id", tag: "T", summary: "s", params: agentPath, response: z.object({}), handler: async () => ({}) })).not.toThrow();
  });

  test("a public path has no parameters: the rate limiter exempts public routes by their exact path", () => {
    expect(() => defineRoute({ method: "get", path: "/api/things/:id", tag: "T", summary: "s", public: true, params: agentPath, handler: async () => new Response() })).toThrow("a public path has no parameters");
  });
});
