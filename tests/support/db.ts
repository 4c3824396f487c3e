import { afterAll } from "bun:test";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type Database, migrate, openPglite, openPostgres } from "../../db/client";
import { migrationsHash } from "./migrations-hash";

/**
 * A fresh, migrated database per test file: a clone of a migrated template, on the PostgreSQL of
 * this machine (default) or on embedded PGlite (`ORGDESK_TEST_DB=pglite`).
 */
export const TEST_DB_KIND = (process.env.ORGDESK_TEST_DB ?? "postgres") as "postgres" | "pglite";
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function urlFor(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = "/" + database;
  return url.toString();
}

async function postgresTemplate(admin: postgres.Sql): Promise<string> {
  const name = `orgdesk_tpl_${migrationsHash()}`;
  await admin`select pg_advisory_lock(88231)`;
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) {
      await admin.unsafe(`create database "${name}_build"`).catch(async () => {
        await admin.unsafe(`drop database if exists "${name}_build" with (force)`);
        await admin.unsafe(`create database "${name}_build"`);
      });
      const building = openPostgres(urlFor(`${name}_build`), { max: 2 });
      await migrate(building);
      await building.close();
      await admin.unsafe(`alter database "${name}_build" rename to "${name}"`);
    }
  } finally {
    await admin`select pg_advisory_unlock(88231)`;
  }
  return name;
}

/** Drops clones left behind by test processes that no longer run. */
async function dropStaleClones(admin: postgres.Sql) {
  const stale = await admin<{ datname: string }[]>`select datname from pg_database where datname like 'orgdesk_t\\_%'`;
  for (const { datname } of stale) {
    const pid = Number(datname.split("_")[2]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {}
    if (!alive) await admin.unsafe(`drop database if exists "${datname}" with (force)`).catch(() => {});
  }
}

let pgliteTemplate: Promise<Blob> | undefined;
async function pgliteDump(): Promise<Blob> {
  const file = join(tmpdir(), `orgdesk-pglite-template-${migrationsHash()}.tar.gz`);
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const lite = await openPglite();
  await migrate(lite);
  const dump = await lite.lite!.dumpDataDir("gzip");
  await lite.close();
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, new Uint8Array(await dump.arrayBuffer()));
  renameSync(tmp, file);
  return dump;
}

/** Opens a fresh migrated database for this test file; it is dropped after the file's tests. */
export async function testDatabase(options: { max?: number } = {}): Promise<Database & { url?: string }> {
  if (TEST_DB_KIND === "pglite") {
    pgliteTemplate ??= pgliteDump();
    const database = await openPglite(undefined, await pgliteTemplate);
    afterAll(() => database.close());
    return database;
  }
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  const template = await postgresTemplate(admin);
  await dropStaleClones(admin);
  const name = `orgdesk_t_${process.pid}_${crypto.randomUUID().slice(0, 8)}`;
  await admin.unsafe(`create database "${name}" template "${template}"`);
  const url = urlFor(name);
  const database = openPostgres(url, { max: options.max ?? 10 });
  afterAll(async () => {
    await database.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  return { ...database, url };
}
