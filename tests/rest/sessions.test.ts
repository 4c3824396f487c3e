import { describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { sessions } from "../../db/schema";
import { sha256 } from "../../server/auth/secrets";
import * as usersService from "../../server/modules/users/service";
import { userUpdateInput } from "../../server/modules/users/schema";
import { call, fixtureOwner, makeUser, signIn, trpc } from "../support/access";
import { ctxFor, platformKey } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeOrg } from "../support/factories";
import { startTestServer } from "../support/http";

const database = await testDatabase();
const { base } = startTestServer(database);
const platform = ctxFor(database, platformKey);
const orgA = await makeOrg(platform, { name: "Session Alpha" });
const orgB = await makeOrg(platform, { name: "Session Bravo" });

async function updateUser(input: Record<string, unknown>) {
  return usersService.update({ ctx: ctxFor(database, await fixtureOwner(database)), input: userUpdateInput.parse(input) });
}

const tokenOf = (cookie: string) => cookie.slice("orgdesk_session=".length);

describe("sessions", () => {
  test("signing in sets an HttpOnly, SameSite=Lax session cookie whose token is stored only as a hash", async () => {
    const u = await makeUser(database, "viewer");
    const { cookie, reply } = await signIn(base, u.email.toUpperCase(), u.password);
    expect(reply.status).toBe(200);
    expect(reply.body.user.email).toBe(u.email);
    const header = reply.headers.getSetCookie()[0]!;
    expect(header).toContain("HttpOnly");
    expect(header).toContain("SameSite=Lax");
    expect(header).toContain("Path=/");
    expect(header).not.toContain("Secure");
    const token = tokenOf(cookie);
    expect(token.length).toBeGreaterThanOrEqual(43);
    const stored = await database.db.select().from(sessions).where(eq(sessions.tokenHash, sha256(token)));
    expect(stored).toHaveLength(1);
    const plain = await database.db.select().from(sessions).where(eq(sessions.tokenHash, token));
    expect(plain).toHaveLength(0);
    expect((await call(base, { cookie }, "GET", "/api/organizations")).status).toBe(200);
    expect(reply.headers.get("cache-control")).toBe("no-store");
  });

  test("the cookie is Secure when the request came over https through a trusted proxy", async () => {
    const secure = startTestServer(database, { trustProxy: true });
    const u = await makeUser(database, "viewer");
    const reply = await trpc(secure.base, null, "mutation", "auth.signIn", { email: u.email, password: u.password }, {
      "x-forwarded-proto": "https",
      "x-forwarded-host": "orgdesk.example",
      origin: "https://orgdesk.example",
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.getSetCookie()[0]).toContain("Secure");
  });

  test("a deactivated user's very next request is 401, and their sessions are revoked", async () => {
    const u = await makeUser(database, "admin");
    const { cookie } = await signIn(base, u.email, u.password);
    expect((await call(base, { cookie }, "GET", "/api/organizations")).status).toBe(200);
    await updateUser({ id: u.id, is_active: false });
    expect((await call(base, { cookie }, "GET", "/api/organizations")).status).toBe(401);
    expect((await trpc(base, { cookie }, "query", "auth.me")).status).toBe(401);
    const open = await database.db.select().from(sessions).where(sql`${sessions.userId} = ${u.id} and ${sessions.revokedAt} is null`);
    expect(open).toHaveLength(0);
    // Reactivation does not revive the old session; signing in again works.
    await updateUser({ id: u.id, is_active: true });
    expect((await call(base, { cookie }, "GET", "/api/organizations")).status).toBe(401);
    expect((await signIn(base, u.email, u.password)).reply.status).toBe(200);
  });

  test("a deactivated user cannot sign in", async () => {
    const u = await makeUser(database, "viewer");
    await updateUser({ id: u.id, is_active: false });
    const { reply } = await signIn(base, u.email, u.password);
    expect(reply.status).toBe(401);
  });

  test("a re-bound user sees the new organization only, from the next request on", async () => {
    const u = await makeUser(database, "viewer", orgA.id);
    const { cookie } = await signIn(base, u.email, u.password);
    const names = async () => (await call(base, { cookie }, "GET", "/api/organizations")).body.organizations.map((o: any) => o.name);
    expect(await names()).toEqual(["Session Alpha"]);
    await updateUser({ id: u.id, org_id: orgB.id });
    expect(await names()).toEqual(["Session Bravo"]);
    expect((await call(base, { cookie }, "GET", `/api/organizations/${orgA.id}`)).status).toBe(404);
    expect((await trpc(base, { cookie }, "query", "auth.me")).body.org).toEqual({ id: orgB.id, name: "Session Bravo", slug: orgB.slug });
    await updateUser({ id: u.id, org_id: null });
    expect(await names()).toEqual(expect.arrayContaining(["Session Alpha", "Session Bravo", "Internal"]));
  });

  test("a role change applies to the next request", async () => {
    const u = await makeUser(database, "viewer");
    const { cookie } = await signIn(base, u.email, u.password);
    expect((await call(base, { cookie }, "POST", "/api/organizations", { name: "Role Change Org" })).status).toBe(403);
    await updateUser({ id: u.id, role: "admin" });
    expect((await call(base, { cookie }, "POST", "/api/organizations", { name: "Role Change Org" })).status).toBe(201);
  });

  test("signing out revokes the session at once and clears the cookie", async () => {
    const u = await makeUser(database, "viewer");
    const { cookie } = await signIn(base, u.email, u.password);
    const other = await signIn(base, u.email, u.password);
    const out = await trpc(base, { cookie }, "mutation", "auth.signOut", {});
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie()[0]).toMatch(/^orgdesk_session=; .*Max-Age=0/);
    expect((await call(base, { cookie }, "GET", "/api/organizations")).status).toBe(401);
    const [row] = await database.db.select().from(sessions).where(eq(sessions.tokenHash, sha256(tokenOf(cookie))));
    expect(row!.revokedAt).not.toBeNull();
    // Only that session: the user's other session still works.
    expect((await call(base, other, "GET", "/api/organizations")).status).toBe(200);
  });

  test("an expired session is refused, and its stale cookie is cleared", async () => {
    const u = await makeUser(database, "viewer");
    const { cookie } = await signIn(base, u.email, u.password);
    await database.db.update(sessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(sessions.tokenHash, sha256(tokenOf(cookie))));
    const reply = await call(base, { cookie }, "GET", "/api/organizations");
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe("unauthorized");
    expect(reply.headers.getSetCookie()[0]).toMatch(/^orgdesk_session=; /);
    const me = await trpc(base, { cookie }, "query", "auth.me");
    expect(me.status).toBe(401);
    expect(me.headers.getSetCookie()[0]).toMatch(/^orgdesk_session=; /);
  });

  test("a made-up session token is refused", async () => {
    expect((await call(base, { cookie: "orgdesk_session=not-a-real-token" }, "GET", "/api/agents")).status).toBe(401);
  });

  test("sessions expire after SESSION_TTL_HOURS", async () => {
    const u = await makeUser(database, "viewer");
    const { cookie, reply } = await signIn(base, u.email, u.password);
    expect(reply.headers.getSetCookie()[0]).toContain(`Max-Age=${168 * 3600}`);
    const [row] = await database.db.select().from(sessions).where(eq(sessions.tokenHash, sha256(tokenOf(cookie))));
    const hours = (row!.expiresAt.getTime() - row!.createdAt.getTime()) / 3_600_000;
    expect(Math.round(hours)).toBe(168);
  });
});

describe("same-origin writes with the session cookie", () => {
  const u = makeUser(database, "admin");
  const session = u.then((x) => signIn(base, x.email, x.password));

  test("a write with our Origin is accepted", async () => {
    const { cookie } = await session;
    expect((await call(base, { cookie }, "POST", "/api/organizations", { name: "Same Origin Org" })).status).toBe(201);
  });

  test("a write from another origin is refused with 403 and changes nothing", async () => {
    const { cookie } = await session;
    const reply = await call(base, { cookie }, "POST", "/api/organizations", { name: "Forged Org" }, { origin: "https://evil.example" });
    expect(reply.status).toBe(403);
    expect(reply.headers.get("content-type")).toContain("application/problem+json");
    const list = await call(base, { cookie }, "GET", "/api/organizations?q=Forged");
    expect(list.body.organizations).toHaveLength(0);
    const mutation = await trpc(base, { cookie }, "mutation", "orgs.create", { name: "Forged Org" }, { origin: "https://evil.example" });
    expect(mutation.status).toBe(403);
  });

  test("without Origin, Sec-Fetch-Site decides; with neither the write is refused", async () => {
    const { cookie } = await session;
    const send = (headers: Record<string, string>) =>
      fetch(`${base}/api/organizations`, { method: "POST", headers: { cookie, "content-type": "application/json", ...headers }, body: JSON.stringify({ name: `Fetch Site ${crypto.randomUUID()}` }) });
    expect((await send({ "sec-fetch-site": "same-origin" })).status).toBe(201);
    expect((await send({ "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await send({ "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await send({})).status).toBe(403);
  });

  test("reads need no Origin check", async () => {
    const { cookie } = await session;
    expect((await call(base, { cookie }, "GET", "/api/organizations", undefined, { origin: "https://evil.example" })).status).toBe(200);
  });

  test("API-key writes are not subject to the check (no cookie is involved)", async () => {
    const reply = await call(base, { key: "test-admin-key" }, "POST", "/api/organizations", { name: "Key Org From Anywhere" }, { origin: "https://evil.example" });
    expect(reply.status).toBe(201);
  });

  test("a sign-in posted from another site is refused (no login CSRF)", async () => {
    const x = await u;
    const reply = await trpc(base, null, "mutation", "auth.signIn", { email: x.email, password: x.password }, { origin: "https://evil.example" });
    expect(reply.status).toBe(403);
    expect(reply.headers.getSetCookie()).toHaveLength(0);
  });
});
