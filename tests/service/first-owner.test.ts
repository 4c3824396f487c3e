import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { users } from "../../db/schema";
import { ANONYMOUS } from "../../server/auth/principal";
import * as auth from "../../server/modules/auth/service";
import { setupInput } from "../../server/modules/auth/schema";
import { ctxFor, TEST_CONFIG } from "../support/actors";
import { testDatabase } from "../support/db";

// One fresh database per test, opened up front (opening PGlite takes a while).
const [dbEnv, dbNone, dbSetup, dbRace, dbClosed] = await Promise.all(Array.from({ length: 5 }, () => testDatabase()));

const config = { ...TEST_CONFIG, adminEmail: "Founder@Example.Test", adminPassword: "first owner password" };

async function owners(database: NonNullable<typeof dbEnv>) {
  return rows<{ email: string; role: string; org_id: string | null; is_first_owner: boolean }>(database.db, sql`select email, role, org_id, is_first_owner from ${users}`);
}

describe("first owner from ADMIN_EMAIL / ADMIN_PASSWORD", () => {
  test("is created once on an empty database, idempotently, even by instances starting together", async () => {
    const database = dbEnv!;
    const results = await Promise.all([auth.ensureFirstOwner(database, config), auth.ensureFirstOwner(database, config), auth.ensureFirstOwner(database, config)]);
    expect(results.filter((r) => r === "created")).toHaveLength(1);
    expect(await owners(database)).toEqual([{ email: "founder@example.test", role: "owner", org_id: null, is_first_owner: true }]);
    expect(await auth.ensureFirstOwner(database, config)).toBe("exists");
    const [entry] = await rows<{ action: string; actor_label: string; after: Record<string, unknown> }>(database.db, sql`select action, actor_label, after from audit_log`);
    expect(entry).toEqual({ action: "user.setup", actor_label: "ADMIN_EMAIL", after: { email: "founder@example.test", role: "owner", org_id: null, is_active: true } });
    const [hash] = await rows<{ password_hash: string }>(database.db, sql`select password_hash from users`);
    expect(hash!.password_hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify("first owner password", hash!.password_hash)).toBe(true);
  });

  test("without them, nothing is created and setup is reported as needed", async () => {
    const database = dbNone!;
    expect(await auth.ensureFirstOwner(database, TEST_CONFIG)).toBe("not-configured");
    expect(await auth.setupStatus({ ctx: ctxFor(database, ANONYMOUS) })).toEqual({ setup_required: true });
  });
});

describe("one-time setup", () => {
  test("creates the first owner, signs them in, and closes itself", async () => {
    const database = dbSetup!;
    const ctx = ctxFor(database, ANONYMOUS);
    const me = await auth.setup({ ctx, input: setupInput.parse({ email: "Owner@Example.Test", password: "a long password" }) });
    expect(me).toMatchObject({ kind: "user", user: { email: "owner@example.test", role: "owner" }, org: null, sees_costs: true });
    expect(ctx.resHeaders!.getSetCookie()[0]).toStartWith("orgdesk_session=");
    expect(await auth.setupStatus({ ctx })).toEqual({ setup_required: false });
    await expect(auth.setup({ ctx: ctxFor(database, ANONYMOUS), input: setupInput.parse({ email: "late@example.test", password: "another password" }) })).rejects.toMatchObject({ code: "CONFLICT" });
    expect((await owners(database)).map((o) => o.email)).toEqual(["owner@example.test"]);
  });

  test("two setups racing create exactly one owner", async () => {
    const database = dbRace!;
    const attempts = await Promise.allSettled(
      ["one@example.test", "two@example.test", "three@example.test"].map((email) => auth.setup({ ctx: ctxFor(database, ANONYMOUS), input: setupInput.parse({ email, password: "racing password" }) })),
    );
    expect(attempts.filter((a) => a.status === "fulfilled")).toHaveLength(1);
    for (const a of attempts) if (a.status === "rejected") expect(a.reason).toMatchObject({ code: "CONFLICT" });
    expect(await owners(database)).toHaveLength(1);
  });

  test("is closed once ADMIN_EMAIL created the owner", async () => {
    const database = dbClosed!;
    await auth.ensureFirstOwner(database, config);
    await expect(auth.setup({ ctx: ctxFor(database, ANONYMOUS), input: setupInput.parse({ email: "sneaky@example.test", password: "a long password" }) })).rejects.toMatchObject({ code: "CONFLICT" });
  });
});
