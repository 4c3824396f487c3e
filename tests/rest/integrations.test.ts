import { describe, expect, test } from "bun:test";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { standardLoggingPayload } from "../support/fixtures/litellm";
import { startTestServer } from "../support/http";

const database = await testDatabase();
const ctx = ctxFor(database);
const plain = startTestServer(database);
const behindProxy = startTestServer(database, { trustProxy: true });
const configured = startTestServer(database, { publicUrl: "https://orgdesk.example.com" });
const org = await makeOrg(ctx, { created_at: "2025-01-01T00:00:00Z" });
const agent = await makeAgent(ctx, { org_id: org.id, external_id: "rest-integrations-bot", created_at: "2025-01-01T00:00:00Z" });

describe("GET /api/integrations", () => {
  test("names this server by PUBLIC_URL, else by the address the request reached (the forwarded one behind a trusted proxy)", async () => {
    expect((await plain.api.get("/api/integrations")).body.base_url).toBe(plain.base);
    expect((await configured.api.get("/api/integrations")).body.base_url).toBe("https://orgdesk.example.com");
    const forwarded = await behindProxy.api.get("/api/integrations", { "x-forwarded-proto": "https", "x-forwarded-host": "desk.example.org" });
    expect(forwarded.body.base_url).toBe("https://desk.example.org");
    // Without TRUST_PROXY, forwarded headers are a client's word: ignored.
    expect((await plain.api.get("/api/integrations", { "x-forwarded-proto": "https", "x-forwarded-host": "evil.example" })).body.base_url).toBe(plain.base);
  });

  test("counts each source's requests as received over HTTP", async () => {
    const before = (await plain.api.get("/api/integrations")).body.sources;
    const payload = standardLoggingPayload({ id: `rest-${Date.now()}`, alias: "rest-integrations-bot", model: "gpt-4o", endTime: Date.now() / 1000 });
    expect((await plain.api.post("/api/integrations/litellm", [payload, standardLoggingPayload({ id: `rest-${Date.now()}-x`, alias: "no-such-agent", model: "gpt-4o", endTime: Date.now() / 1000 })])).body).toMatchObject({ accepted: 1 });
    expect((await plain.api.post("/api/usage", { events: [{ id: `rest-${Date.now()}`, agent_id: agent.id, model: "gpt-4o", input_tokens: 1, output_tokens: 1 }] })).body).toMatchObject({ accepted: 1 });
    const after = (await plain.api.get("/api/integrations")).body.sources;
    const delta = (source: string) => {
      const [b, a] = [before.find((s: any) => s.source === source), after.find((s: any) => s.source === source)];
      return { accepted: a.accepted - b.accepted, duplicates: a.duplicates - b.duplicates, rejected: a.rejected - b.rejected };
    };
    expect(delta("litellm")).toEqual({ accepted: 1, duplicates: 0, rejected: 1 });
    expect(delta("api")).toEqual({ accepted: 1, duplicates: 0, rejected: 0 });
    expect(after.find((s: any) => s.source === "litellm").last_received_at).not.toBeNull();
  });
});

describe("POST /api/integrations/otel/attribute", () => {
  test("bad ids are field errors, and nothing is attributed", async () => {
    const res = await plain.api.post("/api/integrations/otel/attribute", { trace_id: "XYZ", span_ids: ["short"], agent_id: "not-a-uuid" });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.path).sort()).toEqual(["agent_id", "span_ids.0", "trace_id"]);
  });
});
