import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { makeUser, signIn, trpc, uniqueEmail } from "../support/access";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

const database = await testDatabase({ max: 20 });
// Every attempt here comes from 127.0.0.1: the per-account tests get a generous address limit, and
// the address limit has its own instance below.
const { base } = startTestServer(database, { loginMaxPerAddress: 1000 });

describe("failed sign-ins are rate limited", () => {
  test("the 6th attempt within the window is refused with 429 and Retry-After, even with the right password", async () => {
    const u = await makeUser(database, "admin");
    for (let i = 1; i <= 5; i++) {
      const { reply } = await signIn(base, u.email, "wrong password");
      expect({ attempt: i, status: reply.status }).toEqual({ attempt: i, status: 401 });
    }
    const { reply, cookie } = await signIn(base, u.email, u.password);
    expect(reply.status).toBe(429);
    expect(cookie).toBe("");
    const retryAfter = Number(reply.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(reply.body.data.problem.code).toBe("rate_limited");
  });

  test("the limit is per account whatever the case of the email", async () => {
    const u = await makeUser(database, "viewer");
    for (let i = 0; i < 5; i++) await signIn(base, i % 2 ? u.email.toUpperCase() : u.email, "nope nope");
    expect((await signIn(base, ` ${u.email.toUpperCase()} `, u.password)).reply.status).toBe(429);
  });

  test("a success before the limit clears the account's failures", async () => {
    const u = await makeUser(database, "viewer");
    for (let i = 0; i < 4; i++) expect((await signIn(base, u.email, "wrong password")).reply.status).toBe(401);
    expect((await signIn(base, u.email, u.password)).reply.status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await signIn(base, u.email, "wrong password")).reply.status).toBe(401);
    expect((await signIn(base, u.email, u.password)).reply.status).toBe(429);
  });

  test("once the window has passed, the account may try again", async () => {
    const u = await makeUser(database, "viewer");
    for (let i = 0; i < 6; i++) await signIn(base, u.email, "wrong password");
    expect((await signIn(base, u.email, u.password)).reply.status).toBe(429);
    await database.db.execute(sql`update request_counters set window_start = now() - interval '16 minutes' where key = ${`account:${u.email}`}`);
    expect((await signIn(base, u.email, u.password)).reply.status).toBe(200);
  });

  test("unknown accounts are limited too, and answer exactly like a wrong password", async () => {
    const email = uniqueEmail("nobody");
    const first = await signIn(base, email, "whatever1");
    expect(first.reply.status).toBe(401);
    const u = await makeUser(database, "viewer");
    const wrong = await signIn(base, u.email, "whatever1");
    expect(first.reply.body.message).toBe(wrong.reply.body.message);
    for (let i = 0; i < 4; i++) await signIn(base, email, "whatever1");
    expect((await signIn(base, email, "whatever1")).reply.status).toBe(429);
  });

  test("a burst of concurrent wrong attempts cannot get past the limit", async () => {
    const u = await makeUser(database, "viewer");
    const replies = await Promise.all(Array.from({ length: 12 }, () => signIn(base, u.email, "wrong password")));
    const statuses = replies.map((r) => r.reply.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });

  test("the state lives in the database: two server instances share one limit", async () => {
    const second = startTestServer(database, { loginMaxPerAddress: 1000 });
    const u = await makeUser(database, "viewer");
    for (let i = 0; i < 5; i++) await signIn(i % 2 ? second.base : base, u.email, "wrong password");
    expect((await signIn(second.base, u.email, u.password)).reply.status).toBe(429);
    expect((await signIn(base, u.email, u.password)).reply.status).toBe(429);
  });

  test("one address is limited across accounts (LOGIN_MAX_PER_ADDRESS)", async () => {
    // A separate instance with a small address limit; its failures all come from 127.0.0.1.
    const limited = startTestServer(database, { loginMaxPerAddress: 3 });
    await database.db.execute(sql`delete from request_counters where key like 'address:%'`);
    for (let i = 0; i < 3; i++) expect((await signIn(limited.base, uniqueEmail("spray"), "guess guess")).reply.status).toBe(401);
    const u = await makeUser(database, "viewer");
    const refused = await trpc(limited.base, null, "mutation", "auth.signIn", { email: u.email, password: u.password }, { origin: limited.base });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    await database.db.execute(sql`delete from request_counters where key like 'address:%'`);
  });
});
