import { migrationsHash as schemaHash } from "../../support/migrations-hash";
import postgres from "postgres";
import { type Database, migrate, openPostgres } from "../../../db/client";

/**
 * Benchmark databases live on the PostgreSQL of this machine, named `orgdesk_bench_<kind>_<key>`.
 * The key hashes the migrations (and, for loaded data, the generator version), so a database built
 * by an earlier run is reused only while the schema and the data it holds are exactly the same;
 * databases of the same kind with another key are dropped when a new one is built.
 */
export const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Bench databases carry a 10-character migrations hash in their names. */
export const migrationsHash = () => schemaHash(10);

export function urlFor(database: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = "/" + database;
  return url.toString();
}

export function admin(): postgres.Sql {
  return postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
}

export async function databaseExists(sql: postgres.Sql, name: string): Promise<boolean> {
  const [row] = await sql`select 1 from pg_database where datname = ${name}`;
  return row !== undefined;
}

/** Drops every database whose name starts with `prefix` except `keep`. */
export async function dropOthers(sql: postgres.Sql, prefix: string, keep: string): Promise<string[]> {
  const rows = await sql<{ datname: string }[]>`select datname from pg_database where datname like ${prefix.replace(/_/g, "\\_") + "%"}`;
  const dropped: string[] = [];
  for (const { datname } of rows) {
    if (datname === keep) continue;
    await sql.unsafe(`drop database if exists "${datname}" with (force)`);
    dropped.push(datname);
  }
  return dropped;
}

export async function dropDatabase(sql: postgres.Sql, name: string): Promise<void> {
  await sql.unsafe(`drop database if exists "${name}" with (force)`);
}

/** Size of a database on disk, human readable. */
export async function databaseSize(sql: postgres.Sql, name: string): Promise<string> {
  const [row] = await sql<{ size: string }[]>`select pg_size_pretty(pg_database_size(${name})) as size`;
  return row?.size ?? "?";
}

/**
 * The URL of dataset database `name`, built by `fill` on a freshly migrated database the first time
 * and reused afterwards. Built under `<name>_build` and renamed when complete, so an interrupted
 * build is never reused; other databases starting with `prefix` (older schemas) are dropped.
 */
export async function datasetDatabase(name: string, prefix: string, log: (s: string) => void, fill: (database: Database) => Promise<void>): Promise<string> {
  const sql = admin();
  try {
    if (await databaseExists(sql, name)) {
      log(`reusing ${name}`);
      return urlFor(name);
    }
    await dropOthers(sql, prefix, name);
    await sql.unsafe(`drop database if exists "${name}_build" with (force)`);
    await sql.unsafe(`create database "${name}_build"`);
    const database = openPostgres(urlFor(`${name}_build`), { max: 4 });
    try {
      await migrate(database);
      await fill(database);
      await database.pg!`analyze`;
    } finally {
      await database.close();
    }
    await sql.unsafe(`alter database "${name}_build" rename to "${name}"`);
    log(`built ${name}`);
    return urlFor(name);
  } finally {
    await sql.end();
  }
}
