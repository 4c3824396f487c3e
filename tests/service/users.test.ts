import { describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { sessions, users } from "../../db/schema";
import * as auth from "../../server/modules/auth/service";
import { signInInput } from "../../server/modules/auth/schema";
import * as usersService from "../../server/modules/users/service";
import { userCreateInput, userUpdateInput } from "../../server/modules/users/schema";
import { ANONYMOUS } from "../../server/auth/principal";
import { ctxFor, user } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeOrg } from "../support/factories";

// The acting owner is a principal only: the database starts with no owner at all, and only the
// last-owner tests below create owners (in order).
const database = await testDatabase();
const owner = ctxFor(database, user("owner"));

const create = (ctx: typeof owner, input: Record<string, unknown>) => usersService.create({ ctx, input: userCreateInput.parse({ password: "password 123", ...input }) });
const update = (ctx: typeof owner, input: Record<string, unknown>) => usersService.update({ ctx, input: userUpdateInput.parse(input) });
const session = async (ctx: typeof owner, email: string, password: string) => {
  const c = { ...ctxFor(database, ANONYMOUS), ip: `10.0.0.${Math.floor(Math.random() * 250)}` };
  return auth.signIn({ ctx: c, input: signInInput.parse({ email, password }) });
};

describe("users", () => {
  test("emails are stored lower-cased and unique whatever their case; passwords as argon2id", async () => {
    const created = await create(owner, { email: "  Casey@Example.Test ", role: "viewer" });
    expect(created.email).toBe("casey@example.test");
    await expect(create(owner, { email: "CASEY@example.test", role: "admin" })).rejects.toMatchObject({ code: "CONFLICT", errors: [{ path: "email" }] });
    const [row] = await database.db.select().from(users).where(eq(users.id, created.id));
    expect(row!.passwordHash).toStartWith("$argon2id$");
    expect(row!.passwordHash).not.toContain("password 123");
  });

  test("a user may be bound to an organization by id or slug; an unknown one is 404", async () => {
    const org = await makeOrg(ctxFor(database), { name: "Binding Org" });
    const bound = await create(owner, { email: "bound@example.test", role: "member", org_id: org.slug });
    expect(bound).toMatchObject({ org_id: org.id, org_name: "Binding Org" });
    await expect(create(owner, { email: "lost@example.test", role: "member", org_id: crypto.randomUUID() })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const unbound = await update(owner, { id: bound.id, org_id: null });
    expect(unbound).toMatchObject({ org_id: null, org_name: null });
  });

  test("only platform owners manage users", async () => {
    const org = await makeOrg(ctxFor(database));
    for (const principal of [user("admin"), user("owner", org.id), user("viewer")]) {
      await expect(usersService.list({ ctx: ctxFor(database, principal) })).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(create(ctxFor(database, principal), { email: `x${crypto.randomUUID().slice(0, 4)}@example.test`, role: "viewer" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
    expect((await usersService.list({ ctx: owner })).users.length).toBeGreaterThan(0);
  });

  test("an email cannot be changed, and bad roles are refused", () => {
    expect(userUpdateInput.safeParse({ id: crypto.randomUUID(), email: "new@example.test" }).success).toBe(false);
    expect(userCreateInput.safeParse({ email: "r@example.test", password: "password 123", role: "root" }).success).toBe(false);
    expect(userCreateInput.safeParse({ email: "r@example.test", password: "short", role: "viewer" }).success).toBe(false);
  });

  test("a new password and a deactivation end every session of the user", async () => {
    const u = await create(owner, { email: "sessions@example.test", role: "viewer" });
    await session(owner, u.email, "password 123");
    await session(owner, u.email, "password 123");
    const open = () => rows<{ n: number }>(database.db, sql`select count(*)::int as n from ${sessions} where user_id = ${u.id} and revoked_at is null`);
    expect((await open())[0]!.n).toBe(2);
    await update(owner, { id: u.id, password: "a new password" });
    expect((await open())[0]!.n).toBe(0);
    await expect(session(owner, u.email, "password 123")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await session(owner, u.email, "a new password");
    expect((await open())[0]!.n).toBe(1);
    await update(owner, { id: u.id, is_active: false });
    expect((await open())[0]!.n).toBe(0);
  });

  test("an unknown user is 404", async () => {
    await expect(update(owner, { id: crypto.randomUUID(), role: "admin" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("the last platform owner", () => {
  let remaining = "";
  test("cannot be demoted, deactivated or bound while no other active platform owner exists", async () => {
    const ctx = owner;
    const [none] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from users where role = 'owner'`);
    expect(none!.n).toBe(0);
    const org = await makeOrg(ctxFor(database));
    const first = await create(ctx, { email: "first-owner@example.test", role: "owner" });
    await expect(update(ctx, { id: first.id, role: "admin" })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(update(ctx, { id: first.id, is_active: false })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(update(ctx, { id: first.id, org_id: org.id })).rejects.toMatchObject({ code: "CONFLICT" });
    const second = await create(ctx, { email: "second-owner@example.test", role: "owner" });
    expect(await update(ctx, { id: first.id, role: "admin" })).toMatchObject({ role: "admin" });
    await expect(update(ctx, { id: second.id, is_active: false })).rejects.toMatchObject({ code: "CONFLICT" });
    remaining = second.id;
  });

  test("two owners demoting each other at once: exactly one succeeds", async () => {
    const ctx = owner;
    const other = await create(ctx, { email: "b-owner@example.test", role: "owner" });
    const results = await Promise.allSettled([update(ctx, { id: remaining, role: "viewer" }), update(ctx, { id: other.id, is_active: false })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const [left] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from users where role = 'owner' and is_active and org_id is null`);
    expect(left!.n).toBe(1);
  });
});
