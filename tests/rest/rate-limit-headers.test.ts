import { describe, expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { makeKey } from "../support/access";
import { ADMIN_KEY, startTestServer } from "../support/http";

/**
 * The standard rate-limit headers (docs/api.md): every rate-limited answer, success or error, says
 * where the caller stands in its most constraining limit, `RateLimit-Limit`, `-Remaining` and
 * `-Reset`, consistently with the configured limits; a 429 adds `Retry-After`.
 */
const database = await testDatabase();

const standing = (res: Response) => ({
  status: res.status,
  limit: res.headers.get("ratelimit-limit"),
  remaining: res.headers.get("ratelimit-remaining"),
  reset: Number(res.headers.get("ratelimit-reset")),
  retryAfter: res.headers.get("retry-after"),
});

/**
 * A key and a client address of its own for each test: counters live in the database, keyed by
 * credential and address, so tests sharing one would share its count.
 */
const freshKey = async () => (await makeKey(database, "read")).key;
const address = () => `203.0.113.${Math.floor(Math.random() * 250) + 1}`;

describe("rate-limit headers", () => {
  test("a key's successes count down to 0 from its limit, then 429 with Retry-After equal to the reset", async () => {
    const { base } = startTestServer(database, { rateLimitPerKey: 4, rateLimitPerAddress: 1000, rateLimitWindowSeconds: 30, trustProxy: true });
    const headers = { "x-api-key": await freshKey(), "x-forwarded-for": address() };
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(standing(await fetch(`${base}/api/organizations`, { headers })));
    expect(seen.map(({ status, limit, remaining, retryAfter }) => ({ status, limit, remaining, retryAfter: retryAfter !== null }))).toEqual([
      { status: 200, limit: "4", remaining: "3", retryAfter: false },
      { status: 200, limit: "4", remaining: "2", retryAfter: false },
      { status: 200, limit: "4", remaining: "1", retryAfter: false },
      { status: 200, limit: "4", remaining: "0", retryAfter: false },
      { status: 429, limit: "4", remaining: "0", retryAfter: true },
      { status: 429, limit: "4", remaining: "0", retryAfter: true },
    ]);
    // One window: its end comes no later as requests go on, and lies within the configured length.
    for (const s of seen) {
      expect(s.reset).toBeGreaterThanOrEqual(1);
      expect(s.reset).toBeLessThanOrEqual(30);
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.reset).toBeLessThanOrEqual(seen[i - 1]!.reset);
    expect(Number(seen[4]!.retryAfter)).toBe(seen[4]!.reset);
  });

  test("errors are counted and carry the headers too: a 401 for an unknown key, a 404, a 400", async () => {
    const { base } = startTestServer(database, { rateLimitPerKey: 10, rateLimitPerAddress: 1000, rateLimitWindowSeconds: 30, trustProxy: true });
    const forwarded = { "x-forwarded-for": address() };
    const unknownKey = { "x-api-key": `unknown-${crypto.randomUUID()}`, ...forwarded };
    const a = standing(await fetch(`${base}/api/organizations`, { headers: unknownKey }));
    const b = standing(await fetch(`${base}/api/agents/${crypto.randomUUID()}`, { headers: unknownKey }));
    expect([a.status, a.limit, a.remaining]).toEqual([401, "10", "9"]);
    expect([b.status, b.limit, b.remaining]).toEqual([401, "10", "8"]);
    const admin = { "x-api-key": await freshKey(), ...forwarded };
    const missing = standing(await fetch(`${base}/api/agents/${crypto.randomUUID()}`, { headers: admin }));
    const invalid = standing(await fetch(`${base}/api/organizations?limit=0`, { headers: admin }));
    expect([missing.status, missing.limit, missing.remaining]).toEqual([404, "10", "9"]);
    expect([invalid.status, invalid.limit, invalid.remaining]).toEqual([400, "10", "8"]);
  });

  test("the most constraining limit is reported: the address's when it has fewer requests left than the key", async () => {
    const { base } = startTestServer(database, { rateLimitPerKey: 100, rateLimitPerAddress: 3, rateLimitWindowSeconds: 30, trustProxy: true });
    const headers = { "x-api-key": await freshKey(), "x-forwarded-for": address() };
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(standing(await fetch(`${base}/api/organizations`, { headers })));
    expect(seen.map((s) => [s.status, s.limit, s.remaining])).toEqual([
      [200, "3", "2"],
      [200, "3", "1"],
      [200, "3", "0"],
      [429, "3", "0"],
    ]);
  });

  test("and the key's when it has fewer left, whatever address it comes from", async () => {
    const { base } = startTestServer(database, { rateLimitPerKey: 3, rateLimitPerAddress: 10, rateLimitWindowSeconds: 30, trustProxy: true });
    const key = `probe-${crypto.randomUUID()}`;
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(standing(await fetch(`${base}/api/organizations`, { headers: { "x-api-key": key, "x-forwarded-for": address() } })));
    expect(seen.map((s) => [s.status, s.limit, s.remaining])).toEqual([
      [401, "3", "2"],
      [401, "3", "1"],
      [401, "3", "0"],
      [429, "3", "0"],
    ]);
  });

  test("concurrent requests each get their own place: the remaining counts are exactly limit−1 … 0", async () => {
    const { base } = startTestServer(database, { rateLimitPerKey: 12, rateLimitPerAddress: 1000, rateLimitWindowSeconds: 30, trustProxy: true });
    const headers = { "x-api-key": `burst-${crypto.randomUUID()}`, "x-forwarded-for": address() };
    const all = await Promise.all(Array.from({ length: 16 }, () => fetch(`${base}/api/organizations`, { headers }).then(standing)));
    const admitted = all.filter((s) => s.status === 401);
    expect(admitted.map((s) => Number(s.remaining)).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(all.filter((s) => s.status === 429).map((s) => s.remaining)).toEqual(["0", "0", "0", "0"]);
  });

  test("tRPC answers carry them; health, which is never limited, does not; with limits off nobody does", async () => {
    const on = startTestServer(database, { rateLimitPerKey: 7, rateLimitPerAddress: 1000, rateLimitWindowSeconds: 30, trustProxy: true });
    const trpc = standing(await fetch(`${on.base}/trpc/orgs.list?input=${encodeURIComponent("{}")}`, { headers: { "x-api-key": await freshKey(), "x-forwarded-for": address() } }));
    expect([trpc.status, trpc.limit, trpc.remaining]).toEqual([200, "7", "6"]);
    const health = await fetch(`${on.base}/api/health`);
    expect(health.headers.get("ratelimit-limit")).toBeNull();
    const off = startTestServer(database, { rateLimitPerKey: 0, rateLimitPerAddress: 0 });
    const res = await fetch(`${off.base}/api/organizations`, { headers: { "x-api-key": ADMIN_KEY } });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-limit")).toBeNull();
  });
});
