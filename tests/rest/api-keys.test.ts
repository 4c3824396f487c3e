import { describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { apiKeys } from "../../db/schema";
import { sha256 } from "../../server/auth/secrets";
import { call, makeUser, signIn, trpc } from "../support/access";
import { ctxFor, platformKey } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { startTestServer } from "../support/http";

const database = await testDatabase();
const { base } = startTestServer(database);
const platform = ctxFor(database, platformKey);
const orgA = await makeOrg(platform, { name: "Keys Alpha" });
const orgB = await makeOrg(platform, { name: "Keys Bravo" });
await makeAgent(platform, { org_id: orgA.id, name: "Alpha Agent" });
await makeAgent(platform, { org_id: orgB.id, name: "Bravo Agent" });
const admin = await makeUser(database, "admin");
const { cookie } = await signIn(base, admin.email, admin.password);
const browser = { cookie };

describe("API keys", () => {
  test("a created key is shown once, listed by prefix only, and stored as a SHA-256 hash", async () => {
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Finance export", permission: "read" });
    expect(created.status).toBe(200);
    const key: string = created.body.key;
    expect(key).toMatch(/^odk_[a-z0-9]{10}_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(`odk_${created.body.prefix}_`)).toBe(true);
    expect(created.body.created_by).toBe(admin.email);
    // The secret is everything after the prefix; it may itself contain "_" (base64url).
    const secret = key.slice(`odk_${created.body.prefix}_`.length);
    expect(secret).toHaveLength(43);

    const listed = await trpc(base, browser, "query", "keys.list");
    const entry = listed.body.keys.find((k: any) => k.id === created.body.id);
    expect(entry).toMatchObject({ name: "Finance export", prefix: created.body.prefix, permission: "read", org_id: null, last_used_at: null, revoked_at: null });
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(entry.key).toBeUndefined();

    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, created.body.id));
    expect(row!.secretHash).toBe(sha256(key));
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  test("a key works in X-API-Key and in Authorization: Bearer, and records when it was last used", async () => {
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Tool", permission: "read" });
    const before = Date.now();
    expect((await call(base, { key: created.body.key }, "GET", "/api/organizations")).status).toBe(200);
    const bearer = await fetch(`${base}/api/agents`, { headers: { authorization: `Bearer ${created.body.key}` } });
    expect(bearer.status).toBe(200);
    const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, created.body.id));
    expect(row!.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    // At most one write a minute: a use within the minute leaves it as it was.
    const first = row!.lastUsedAt!.getTime();
    await call(base, { key: created.body.key }, "GET", "/api/organizations");
    const [again] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, created.body.id));
    expect(again!.lastUsedAt!.getTime()).toBe(first);
  });

  test("a revoked key is refused with 401 at once", async () => {
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Soon gone", permission: "write" });
    const key = { key: created.body.key };
    expect((await call(base, key, "POST", "/api/organizations", { name: "Made By Key" })).status).toBe(201);
    const revoked = await trpc(base, browser, "mutation", "keys.revoke", { id: created.body.id });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const refused = await call(base, key, "GET", "/api/organizations");
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toBe("The API key is invalid or revoked");
    expect((await trpc(base, key, "query", "orgs.list", {})).status).toBe(401);
  });

  test("unknown, malformed and tampered keys are 401 (never anonymous)", async () => {
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Real", permission: "read" });
    const tampered = created.body.key.slice(0, -1) + (created.body.key.endsWith("A") ? "B" : "A");
    for (const key of ["nonsense", `odk_${created.body.prefix}_${"x".repeat(43)}`, tampered]) {
      expect((await call(base, { key }, "GET", "/api/health")).status).toBe(200); // public
      expect((await call(base, { key }, "GET", "/api/organizations")).status).toBe(401);
    }
  });

  test("an organization-scoped key sees only its organization", async () => {
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Portal", permission: "read", org_id: orgA.slug });
    expect(created.body.org_id).toBe(orgA.id);
    const key = { key: created.body.key };
    const orgs = await call(base, key, "GET", "/api/organizations");
    expect(orgs.body.organizations.map((o: any) => o.name)).toEqual(["Keys Alpha"]);
    const agents = await call(base, key, "GET", "/api/agents");
    expect(agents.body.agents.map((a: any) => a.name)).toEqual(["Alpha Agent"]);
    expect((await call(base, key, "GET", `/api/organizations/${orgB.id}`)).status).toBe(404);
  });

  test("a usage key can do nothing but ingest usage", async () => {
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Runtime", permission: "usage" });
    const key = { key: created.body.key };
    expect((await call(base, key, "GET", "/api/organizations")).status).toBe(403);
    expect((await call(base, key, "GET", "/api/agents")).status).toBe(403);
    expect((await call(base, key, "POST", "/api/agents", { name: "Nope" })).status).toBe(403);
    expect((await call(base, key, "GET", "/api/audit")).status).toBe(403);
  });

  test("a key scoped to an organization that was deleted stops working", async () => {
    const doomed = await makeOrg(platform, { name: "Keys Doomed" });
    const created = await trpc(base, browser, "mutation", "keys.create", { name: "Doomed", permission: "read", org_id: doomed.id });
    expect((await call(base, { key: created.body.key }, "GET", "/api/organizations")).status).toBe(200);
    expect((await call(base, { key: "test-admin-key" }, "DELETE", `/api/organizations/${doomed.id}`)).status).toBe(200);
    expect((await call(base, { key: created.body.key }, "GET", "/api/organizations")).status).toBe(401);
  });

  test("keys never manage keys, and bound admins cannot create any", async () => {
    const write = await trpc(base, browser, "mutation", "keys.create", { name: "Automation", permission: "write" });
    expect((await trpc(base, { key: write.body.key }, "mutation", "keys.create", { name: "Escalation", permission: "write" })).status).toBe(403);
    const bound = await makeUser(database, "admin", orgA.id);
    const session = await signIn(base, bound.email, bound.password);
    expect((await trpc(base, session, "mutation", "keys.create", { name: "Mine", permission: "read", org_id: orgA.id })).status).toBe(403);
    const [count] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from api_keys where name in ('Escalation', 'Mine')`);
    expect(count!.n).toBe(0);
  });

  test("the ADMIN_API_KEY from the environment is a platform write key", async () => {
    const me = await trpc(base, { key: "test-admin-key" }, "query", "auth.me");
    expect(me.body).toMatchObject({ kind: "api_key", key: { id: null, prefix: "env", permission: "write" }, org: null, sees_costs: true });
    expect(me.body.permissions).toContain("org.create");
    expect(me.body.permissions).not.toContain("keys.manage");
  });
});
