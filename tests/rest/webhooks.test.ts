import { describe, expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { client, startTestServer } from "../support/http";

/**
 * The webhooks REST API (docs/api.md): the secret is shown once, bad input gets field errors and
 * changes nothing, and nothing about an endpoint ever echoes its secret.
 */
const database = await testDatabase();
const { api, base } = startTestServer(database);

describe("REST /api/webhooks", () => {
  test("create answers 201 with the secret once; list, get and the audit log never show it", async () => {
    const created = await api.post("/api/webhooks", { url: "https://hooks.example.com/orgdesk", description: "Finance sync", event_types: ["invoice.finalized", "agent.assigned"] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: "https://hooks.example.com/orgdesk", description: "Finance sync", enabled: true, event_types: ["invoice.finalized", "agent.assigned"] });
    const secret: string = created.body.secret;
    expect(secret).toMatch(/^whsec_/);
    const listed = await api.get("/api/webhooks");
    expect(listed.status).toBe(200);
    expect(listed.body.webhooks.map((w: { id: string }) => w.id)).toContain(created.body.id);
    const got = await api.get(`/api/webhooks/${created.body.id}`);
    const audit = await api.get("/api/audit?action=webhook.&limit=50");
    for (const reply of [listed, got, audit]) expect(JSON.stringify(reply.body)).not.toContain(secret.slice(6));
    expect(audit.body.events.map((e: { action: string }) => e.action)).toContain("webhook.create");

    const rotated = await api.post(`/api/webhooks/${created.body.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(secret);
    expect(JSON.stringify((await api.get("/api/audit?action=webhook.&limit=50")).body)).not.toContain(rotated.body.secret.slice(6));
  });

  test("bad input gets a 400 naming each field, and creates nothing", async () => {
    const before = (await api.get("/api/webhooks")).body.webhooks.length;
    const cases: [unknown, string, string][] = [
      [{ url: "http://hooks.example.com/x" }, "url", "must use https"],
      [{ url: "https://169.254.169.254/latest" }, "url", "link-local"],
      [{ url: "https://hooks.example.com/x", event_types: ["organization.renamed"] }, "event_types.0", "is not a known event type"],
      [{ url: "https://hooks.example.com/x", event_types: [] }, "event_types", "at least one"],
      [{ url: "https://hooks.example.com/x", event_types: ["agent.created", "agent.created"] }, "event_types", "must not repeat"],
      [{ url: "https://hooks.example.com/x", secret: "whsec_mine" }, "secret", "is not a known field"],
      [{}, "url", ""],
    ];
    for (const [body, path, message] of cases) {
      const reply = await api.post("/api/webhooks", body);
      expect({ body, status: reply.status, type: reply.headers.get("content-type") }).toEqual({ body, status: 400, type: "application/problem+json" });
      expect(reply.body.errors).toContainEqual({ path, message: expect.stringContaining(message) });
    }
    expect((await api.get("/api/webhooks")).body.webhooks.length).toBe(before);

    const hook = (await api.post("/api/webhooks", { url: "https://hooks.example.com/patch" })).body;
    const patched = await api.patch(`/api/webhooks/${hook.id}`, { secret: "whsec_mine" });
    expect(patched.status).toBe(400);
    expect(patched.body.errors).toEqual([{ path: "secret", message: "cannot be set; use rotate-secret" }]);
    const deliveries = await api.get(`/api/webhooks/${hook.id}/deliveries?limit=0&status=lost`);
    expect(deliveries.status).toBe(400);
    expect(deliveries.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["limit", "status"]);
  });

  test("unknown ids are 404 wherever they appear", async () => {
    for (const path of ["/api/webhooks/not-a-uuid", `/api/webhooks/${crypto.randomUUID()}`, `/api/webhooks/${crypto.randomUUID()}/deliveries`]) {
      const reply = await api.get(path);
      expect({ path, status: reply.status }).toEqual({ path, status: 404 });
    }
    expect((await api.post(`/api/webhooks/deliveries/${crypto.randomUUID()}/retry`)).status).toBe(404);
    expect((await api.post("/api/webhooks/deliveries/nope/retry")).status).toBe(404);
    expect((await api.post(`/api/webhooks/${crypto.randomUUID()}/test`)).status).toBe(404);
  });

  test("a test event is queued (202) and shows in the delivery log; a delivery can be retried (202)", async () => {
    const hook = (await api.post("/api/webhooks", { url: "https://hooks.example.com/test" })).body;
    const queued = await api.post(`/api/webhooks/${hook.id}/test`);
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ endpoint_id: hook.id, event_type: "webhook.test", status: "pending", attempt_count: 0 });
    const log = await api.get(`/api/webhooks/${hook.id}/deliveries`);
    expect(log.body.deliveries.map((d: { id: string }) => d.id)).toEqual([queued.body.id]);
    const retried = await api.post(`/api/webhooks/deliveries/${queued.body.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body.id).toBe(queued.body.id);
    const deleted = await api.delete(`/api/webhooks/${hook.id}`);
    expect(deleted.body).toEqual({ success: true, id: hook.id });
    expect((await api.get(`/api/webhooks/${hook.id}`)).status).toBe(404);
  });

  test("without SECRETS_KEY creating an endpoint is a 503 that says what to set", async () => {
    const { base: keyless } = startTestServer(database, { secretsKey: undefined });
    const reply = await client(keyless, "test-admin-key").post("/api/webhooks", { url: "https://hooks.example.com/x" });
    expect(reply.status).toBe(503);
    expect(reply.body.detail).toContain("SECRETS_KEY");
  });

  test("the OpenAPI document describes every webhook operation", async () => {
    const doc = (await client(base).get("/api/openapi.json")).body;
    for (const path of ["/api/webhooks", "/api/webhooks/{id}", "/api/webhooks/{id}/rotate-secret", "/api/webhooks/{id}/test", "/api/webhooks/{id}/deliveries", "/api/webhooks/deliveries/{id}/retry"]) {
      expect(doc.paths[path]).toBeDefined();
    }
    expect(doc.paths["/api/webhooks"].post.responses["201"]).toBeDefined();
  });
});
