import { describe, expect, test } from "bun:test";
import { apiKeys, sessions, users } from "../../db/schema";
import { testDatabase } from "../support/db";
import { sqlstate } from "../support/failures";

/** The access tables refuse by themselves what the services never write. */
const database = await testDatabase();
const db = database.db;


const hash = "$argon2id$v=19$m=65536,t=2,p=1$not-a-real-hash";

describe("access constraints", () => {
  test("an email is unique whatever its case", async () => {
    await db.insert(users).values({ email: "Dup@Example.Test", passwordHash: hash, role: "viewer" });
    expect(await sqlstate(db.insert(users).values({ email: "dup@example.test", passwordHash: hash, role: "admin" }))).toBe("23505");
  });

  test("at most one user is ever the first owner", async () => {
    await db.insert(users).values({ email: "first@example.test", passwordHash: hash, role: "owner", isFirstOwner: true });
    expect(await sqlstate(db.insert(users).values({ email: "second@example.test", passwordHash: hash, role: "owner", isFirstOwner: true }))).toBe("23505");
  });

  test("roles and key permissions are closed lists", async () => {
    expect(await sqlstate(db.insert(users).values({ email: "root@example.test", passwordHash: hash, role: "root" }))).toBe("23514");
    expect(await sqlstate(db.insert(apiKeys).values({ prefix: "abcdefghij", secretHash: "x", name: "k", permission: "admin" }))).toBe("23514");
  });

  test("key prefixes and session token hashes are unique", async () => {
    await db.insert(apiKeys).values({ prefix: "0123456789", secretHash: "a", name: "one", permission: "read" });
    expect(await sqlstate(db.insert(apiKeys).values({ prefix: "0123456789", secretHash: "b", name: "two", permission: "read" }))).toBe("23505");
    const [u] = await db.insert(users).values({ email: "sess@example.test", passwordHash: hash, role: "viewer" }).returning();
    const expiresAt = new Date(Date.now() + 3600_000);
    await db.insert(sessions).values({ tokenHash: "same", userId: u!.id, expiresAt });
    expect(await sqlstate(db.insert(sessions).values({ tokenHash: "same", userId: u!.id, expiresAt }))).toBe("23505");
  });

  test("users and keys can only be bound to organizations that exist", async () => {
    const missing = crypto.randomUUID();
    expect(await sqlstate(db.insert(users).values({ email: "ghost@example.test", passwordHash: hash, role: "viewer", orgId: missing }))).toBe("23503");
    expect(await sqlstate(db.insert(apiKeys).values({ prefix: "ghostghost", secretHash: "c", name: "ghost", permission: "read", orgId: missing }))).toBe("23503");
  });
});
