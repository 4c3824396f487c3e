import { describe, expect, test } from "bun:test";
import { databaseChecksum } from "../support/checksum";
import { testDatabase } from "../support/db";
import { ADMIN_KEY, startTestServer } from "../support/http";

/**
 * Regressions found by the fuzzer (tests/rest/fuzz.test.ts), one named case each: every one of
 * these answered a 5xx or was silently accepted before its fix.
 */
const database = await testDatabase();
const { base, api } = startTestServer(database, { maxBodyBytes: 64 * 1024 });

const org = (await api.post("/api/organizations", { name: "Hostile Input Co" })).body;
const agent = (await api.post("/api/agents", { name: "Hostile Agent", org_id: org.id })).body;

async function raw(method: string, path: string, body: BodyInit, headers: Record<string, string> = { "content-type": "application/json" }) {
  const res = await fetch(base + path, { method, headers: { "x-api-key": ADMIN_KEY, ...headers }, body, duplex: "half" } as RequestInit);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: text ? JSON.parse(text) : null };
}

describe("hostile request bodies", () => {
  test("a body repeating a key is a 400 naming the key, and creates nothing", async () => {
    const before = await databaseChecksum(database.db);
    const res = await raw("POST", "/api/organizations", '{"name":"First","name":"Second"}');
    expect(res.status).toBe(400);
    expect(res.type).toStartWith("application/problem+json");
    expect(res.body.detail).toBe('The body repeats the key "name" in one object');
    expect(await databaseChecksum(database.db)).toBe(before);
  });

  test("the same key in two different objects is not a repetition", async () => {
    const res = await raw("POST", `/api/agents/${agent.id}/assign-org`, JSON.stringify({ orgId: org.id }));
    expect(res.status).toBe(200);
  });

  test("a body that is not valid UTF-8 is a 400, never stored with replacement characters", async () => {
    const before = await databaseChecksum(database.db);
    const bytes = new Uint8Array([...new TextEncoder().encode('{"name":"'), 0xff, 0xfe, ...new TextEncoder().encode('"}')]);
    const res = await raw("POST", "/api/organizations", bytes);
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe("The body is not valid UTF-8");
    expect(await databaseChecksum(database.db)).toBe(before);
  });

  test("half a surrogate pair in a \\u escape is a 400 on every JSON endpoint, as bytes that are not UTF-8 are, and stores nothing; in an NDJSON import only its line is refused", async () => {
    // Before, /api/usage, OTLP JSON and LiteLLM failed in PostgreSQL's JSON parser (a 400 naming no
    // cause, the whole request) and names were stored with U+FFFD.
    const now = new Date().toISOString();
    const event = (id: string) => `{"id":"${id}","agent_id":"${agent.id}","model":"m","occurred_at":"${now}","input_tokens":1,"output_tokens":1}`;
    const before = await databaseChecksum(database.db);
    for (const [path, body] of [
      ["/api/organizations", '{"name":"Half \\ud800"}'],
      ["/api/usage", `{"events":[${event("half-\\udc00")}]}`],
      ["/api/otel/v1/traces", '{"resourceSpans":[{"resource":{"attributes":[{"key":"orgdesk.agent.id","value":{"stringValue":"a\\ud83d"}}]},"scopeSpans":[]}]}'],
      ["/api/integrations/litellm", '[{"id":"x\\ud800","status":"success","model":"m"}]'],
    ] as const) {
      const res = await raw("POST", path, body);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(res.type).toStartWith("application/problem+json");
      expect(res.body.detail).toMatch(/^The body holds half a surrogate pair \(\\u(d800|dc00|d83d) without its (low|high) half\): not a Unicode character$/);
    }
    // The web app's procedures too.
    const trpc = await raw("POST", "/trpc/orgs.create", '{"name":"Half \\ud800"}');
    expect(trpc.status).toBe(400);
    expect(trpc.body.detail).toBe("The body holds half a surrogate pair (\\ud800 without its low half): not a Unicode character");
    expect(await databaseChecksum(database.db)).toBe(before);
    const imported = await raw("POST", "/api/usage/import", `${event("whole-\\ud83d\\ude00")}\n${event("half-\\ud800")}\n`, { "content-type": "application/x-ndjson" });
    expect(imported.status).toBe(200);
    expect(imported.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(imported.body.errors).toEqual([{ line: 2, id: null, code: "invalid", message: "The body holds half a surrogate pair (\\ud800 without its low half): not a Unicode character" }]);
  });

  test("JSON nested 10 000 levels deep is a 400 before it is parsed", async () => {
    const res = await raw("POST", "/api/organizations", `{"name":${"[".repeat(10_000)}${"]".repeat(10_000)}}`);
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe("The body is nested deeper than 32 levels");
  });

  test("a rate with more integer digits than the column holds is a 400 on the field, not a 500", async () => {
    for (const rate of ["9999999999999", "999999999999999.99", 1e13]) {
      const res = await api.post("/api/organizations", { name: `Big ${rate}`, billing_rate_per_agent: rate });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ path: "billing_rate_per_agent", message: "is out of range" }]);
    }
    expect((await api.post("/api/organizations", { name: "Largest", billing_rate_per_agent: "999999999999.99" })).body.billing_rate_per_agent).toBe(
      "999999999999.99",
    );
  });

  test("a chunked tRPC body over the limit is a 413, read no further than the limit", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ > 64) return controller.close();
        controller.enqueue(chunk);
      },
    });
    const res = await raw("POST", "/trpc/orgs.create", stream);
    expect(res.status).toBe(413);
    expect(res.type).toStartWith("application/problem+json");
  });
});

describe("hostile path and query values", () => {
  test("an organization reference holding a NUL byte is a 404 like any unknown one", async () => {
    for (const ref of ["%00", "a%00b", "fuzz%00target"]) {
      expect((await api.get(`/api/organizations/${ref}`)).status).toBe(404);
      expect((await api.delete(`/api/organizations/${ref}`)).status).toBe(404);
      expect((await api.post(`/api/organizations/${ref}/toggle`)).status).toBe(404);
    }
    expect((await api.post(`/api/agents/${agent.id}/assign-org`, { orgId: "a\u0000b" })).status).toBe(404);
    expect((await api.get(`/api/agents?org=${encodeURIComponent("x\u0000")}`)).status).toBe(404);
  });

  test("a search text with control characters is a 400 on `q`", async () => {
    for (const path of ["/api/organizations", "/api/agents"]) {
      const res = await api.get(`${path}?q=${encodeURIComponent("a\u0000b")}`);
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ path: "q", message: "must not contain control characters" }]);
    }
  });

  test("a forged cursor is a 400 on `cursor`, whatever it holds", async () => {
    const forged = [["x", "not-a-uuid"], ["a\u0000", "00000000-0000-4000-8000-000000000001"], [1, 2], ["x"], { a: 1 }];
    for (const key of forged) {
      const cursor = Buffer.from(JSON.stringify(key)).toString("base64url");
      for (const path of ["/api/organizations", "/api/agents"]) {
        const res = await api.get(`${path}?cursor=${cursor}`);
        expect(res.status).toBe(400);
        expect(res.body.errors).toEqual([{ path: "cursor", message: "is not a valid cursor" }]);
      }
    }
  });

  test("a forged audit cursor is a 400 on `cursor`, not a value compared with the id column", async () => {
    for (const key of [["not-a-number"], ["1; drop table audit_log"], [1, 2]]) {
      const res = await api.get(`/api/audit?cursor=${Buffer.from(JSON.stringify(key)).toString("base64url")}`);
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ path: "cursor", message: "is not a valid cursor" }]);
    }
  });

  test("effective_at on an assignment that moves nothing is refused, in the future or not", async () => {
    const fresh = (await api.post("/api/agents", { name: "Stays Home" })).body;
    for (const at of ["9999-12-31T23:59:59Z", "2024-06-01T00:00:00Z"]) {
      const res = await api.post(`/api/agents/${fresh.id}/unassign-org`, { effective_at: at });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].path).toBe("effective_at");
    }
  });
});

describe("hostile values on the usage endpoints", () => {
  test("a re-price range that is not a date at all is a 400 on the field, not a 500", async () => {
    for (const from of ["yesterday", "2026-1-1", "Fuzz from 1", ""]) {
      const res = await api.post("/api/usage/reprice", { from, to: "2026-01-31" });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain("from");
    }
  });
});
