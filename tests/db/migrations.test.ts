import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type Database, migrate, MIGRATIONS_DIR, openPglite, openPostgres, rows } from "../../db/client";
import { ADMIN_URL, TEST_DB_KIND, urlFor } from "../support/db";
import { sqlstate } from "../support/failures";

/**
 * A database with data from before migrations 0008–0009 (the per-organization agent names, the
 * slug rule, the request counters) migrates without losing or refusing anything: rows valid under
 * the old constraints are valid under the new ones, and an existing UUID-shaped slug is renamed.
 */
const BEFORE = "0007_drop-day-rollups";

/** The committed migrations up to and including `last`, in a folder of their own. */
function migrationsUpTo(last: string): string {
  const dir = mkdtempSync(join(tmpdir(), "orgdesk-migrations-"));
  mkdirSync(join(dir, "meta"));
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta/_journal.json"), "utf8"));
  const end = journal.entries.findIndex((e: { tag: string }) => e.tag === last);
  expect(end).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, end + 1);
  writeFileSync(join(dir, "meta/_journal.json"), JSON.stringify(journal));
  for (const e of journal.entries) copyFileSync(join(MIGRATIONS_DIR, `${e.tag}.sql`), join(dir, `${e.tag}.sql`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function emptyDatabase(): Promise<Database> {
  if (TEST_DB_KIND === "pglite") {
    const database = await openPglite();
    afterAll(() => database.close());
    return database;
  }
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  const name = `orgdesk_t_${process.pid}_migrations`;
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.unsafe(`create database "${name}"`);
  const database = openPostgres(urlFor(name), { max: 2 });
  afterAll(async () => {
    await database.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  return { ...database, url: urlFor(name) };
}

describe("migrating a database that has data", () => {
  test("names per organization, the slug rule and the request counters keep every row", async () => {
    const database = await emptyDatabase();
    const db = database.db;
    await migrate(database, migrationsUpTo(BEFORE));
    expect(readdirSync(MIGRATIONS_DIR).some((f) => f.startsWith("0009_"))).toBe(true);

    // Valid before: a UUID-shaped slug; archived agents sharing an active agent's name, in its
    // organization and in another; a sign-in counter.
    const [uuidOrg] = await rows<{ id: string }>(db, sql`insert into organizations (name, slug) values ('Uuid Slug Co', '0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a') returning id::text as id`);
    const [other] = await rows<{ id: string }>(db, sql`insert into organizations (name, slug) values ('Plain Co', 'plain-co') returning id::text as id`);
    await db.execute(sql`insert into agents (name, email, status, org_id) values
      ('Scout', 'scout@example.test', 'active', ${uuidOrg!.id}::uuid),
      ('scout', 'old-scout@example.test', 'archived', ${uuidOrg!.id}::uuid),
      ('SCOUT', null, 'archived', ${other!.id}::uuid)`);
    await db.execute(sql`insert into login_throttle (key, window_start, failures) values ('account:someone@example.test', now(), 3)`);

    await migrate(database);

    const [renamed] = await rows<{ slug: string }>(db, sql`select slug from organizations where id = ${uuidOrg!.id}::uuid`);
    expect(renamed!.slug).toBe("org-0e8f8c4a1b2c4d3e8f9a0b1c2d3e4f5a");
    const agents = await rows<{ name: string; status: string }>(db, sql`select name, status from agents order by name collate "C"`);
    expect(agents).toEqual([
      { name: "SCOUT", status: "archived" },
      { name: "Scout", status: "active" },
      { name: "scout", status: "archived" },
    ]);
    expect(await rows(db, sql`select key, hits from request_counters`)).toEqual([{ key: "account:someone@example.test", hits: 3 }]);

    // The new rules hold from now on.
    expect(await sqlstate(db.execute(sql`insert into organizations (name, slug) values ('Bad', '0e8f8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5b')`))).toBe("23514");
    expect(await sqlstate(db.execute(sql`insert into agents (name, org_id) values ('sCOUT', ${uuidOrg!.id}::uuid)`))).toBe("23505");
    expect(await sqlstate(db.execute(sql`insert into agents (name, email, org_id) values ('Scout', 'scout@example.test', ${other!.id}::uuid)`))).toBe("no error");
  }, 120_000);
});
