import { describe, expect, test } from "bun:test";
import { openPostgres } from "../../db/client";
import { databaseChecksum } from "../support/checksum";
import { testDatabase } from "../support/db";
import { ADMIN_KEY, client, startTestServer } from "../support/http";

/**
 * Limits: body size, batch size and page size caps; rate limits per credential and per address
 * with 429 and Retry-After, shared by instances through PostgreSQL.
 */
const database = await testDatabase();
const small = startTestServer(database, { maxBodyBytes: 4096 });
const api = small.api;

describe("size caps", () => {
  test("a body over MAX_BODY_BYTES is a 413, declared or chunked, and stores nothing", async () => {
    const before = await databaseChecksum(database.db);
    const declared = await api.post("/api/organizations", { name: "Big", description: "x".repeat(5000) });
    expect(declared.status).toBe(413);
    expect(declared.headers.get("content-type")).toStartWith("application/problem+json");
    const chunk = new TextEncoder().encode(" ".repeat(1024));
    let n = 0;
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 10 ? c.enqueue(chunk) : c.close()) });
    const chunked = await fetch(`${small.base}/api/organizations`, {
      method: "POST",
      headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await databaseChecksum(database.db)).toBe(before);
  });

  test("a usage batch over 1000 events is a 413 naming the field, and stores nothing", async () => {
    const { api: roomy } = startTestServer(database);
    const before = await databaseChecksum(database.db);
    const events = Array.from({ length: 1001 }, (_, i) => ({ id: `cap-${i}`, agent_id: crypto.randomUUID(), model: "m", input_tokens: 1, output_tokens: 1 }));
    const res = await roomy.post("/api/usage", { events });
    expect(res.status).toBe(413);
    expect(res.body.errors).toEqual([{ path: "events", message: "must contain at most 1000 events" }]);
    expect(await databaseChecksum(database.db)).toBe(before);
  });

  test("a page larger than 500 is refused; 500 is served", async () => {
    for (const path of ["/api/organizations", "/api/agents", "/api/audit"]) {
      const over = await api.get(`${path}?limit=501`);
      if (over.status === 404) continue; // the audit endpoint arrives with access control
      expect(over.status).toBe(400);
      expect(over.body.errors[0].path).toBe("limit");
      expect((await api.get(`${path}?limit=500`)).status).toBe(200);
    }
  });
});

describe("rate limits shared by instances", () => {
  // Two instances, each with its own connection pool, against the same database.
  const other = openPostgres(database.url!, { max: 2 });
  const limits = { rateLimitPerKey: 10, rateLimitPerAddress: 1_000_000, rateLimitWindowSeconds: 3 };
  const a = startTestServer(database, limits);
  const b = startTestServer({ ...other, close: () => other.close() }, limits);

  test("a key over its limit gets 429 problem+json with Retry-After, whichever instance it asks", async () => {
    const key = `limit-key-${crypto.randomUUID()}`;
    // A key that does not exist is counted too: guessing keys is what the limit is for.
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 14; i++) {
      const res = await fetch(`${(i % 2 ? a : b).base}/api/organizations`, { headers: { "x-api-key": key } });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(4).fill(429));
    expect(limited!.headers.get("content-type")).toStartWith("application/problem+json");
    const retryAfter = Number(limited!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3);
    expect((await limited!.json()).code).toBe("rate_limited");
    // Another credential is not affected; the limited one is served again in the next window.
    expect((await a.api.get("/api/organizations")).status).toBe(200);
    await Bun.sleep(retryAfter * 1000 + 100);
    expect((await fetch(`${a.base}/api/organizations`, { headers: { "x-api-key": key } })).status).toBe(401);
  });

  test("concurrent requests of one key on both instances are counted exactly: the limit admits exactly its number", async () => {
    const key = `burst-key-${crypto.randomUUID()}`;
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => fetch(`${(i % 2 ? a : b).base}/api/organizations`, { headers: { "x-api-key": key } }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  });

  test("an address over its limit gets 429 on both instances, with or without credentials; health stays up", async () => {
    const perAddress = { rateLimitPerKey: 1_000_000, rateLimitPerAddress: 8, rateLimitWindowSeconds: 30 };
    // Test clients all come from 127.0.0.1: behind TRUST_PROXY, X-Forwarded-For is the address.
    const headers = (addr: string) => ({ "x-forwarded-for": addr });
    const e = startTestServer(database, { ...perAddress, trustProxy: true });
    const f = startTestServer({ ...other, close: async () => {} }, { ...perAddress, trustProxy: true });
    const addr = `198.51.100.${Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await client(i % 2 ? e.base : f.base).get("/api/organizations", headers(addr))).status);
    expect(statuses).toEqual([...Array(8).fill(401), 429, 429]);
    expect((await client(e.base, ADMIN_KEY).get("/api/organizations", headers(addr))).status).toBe(429);
    expect((await client(e.base).get("/api/health", headers(addr))).status).toBe(200);
    // Another address is served.
    expect((await client(e.base, ADMIN_KEY).get("/api/organizations", headers("198.51.100.251"))).status).toBe(200);
  });

  test("the counters hold no credential", async () => {
    const key = "never-stored-secret-key";
    await fetch(`${a.base}/api/organizations`, { headers: { "x-api-key": key } });
    const rows = (await database.pg!`select key as bucket from request_counters`) as unknown as { bucket: string }[];
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.bucket).not.toContain(key);
  });
});
