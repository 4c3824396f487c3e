import { PGlite } from "@electric-sql/pglite";
import { btree_gist } from "@electric-sql/pglite/contrib/btree_gist";
import { type SQL, sql } from "drizzle-orm";
import { PgDialect, type PgDatabase, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import * as schema from "./schema";

/** The database handle every service receives: the same type on PostgreSQL and on PGlite. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle, usable wherever a Db is. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  driver: "postgres" | "pglite";
  /** postgres.js client (PostgreSQL only): for COPY and other driver-level work. */
  pg?: postgres.Sql;
  /** Connection URL (PostgreSQL only). */
  url?: string;
  /** PGlite instance (embedded only). */
  lite?: PGlite;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

export interface PostgresOptions {
  max?: number;
  /** Per-statement timeout in milliseconds (server-side `statement_timeout`). */
  statementTimeoutMs?: number;
  /**
   * Seconds to wait for a new connection before the query fails (postgres.js waits 30 s by
   * default). Short, so that while the database is unreachable requests fail fast with a 503
   * instead of piling up; postgres.js reconnects on the next query once it is back.
   */
  connectTimeoutSeconds?: number;
}

export function openPostgres(url: string, options: PostgresOptions = {}): Database {
  const pg = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    // Connections idle for a minute are closed, so a pool does not hold dead sockets after the
    // database restarts, and several instances do not hold idle connections they do not need.
    idle_timeout: 60,
    // postgres.js backs off exponentially up to 20 s between reconnection attempts, counting every
    // failure of every connection; after an outage of a few seconds, queries would then wait up
    // to 20 s for a connection although the database is back. Cap the wait at one second.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    onnotice: () => {},
    // No array-type fetch when a connection opens: Orgdesk reads no array columns, and a backend
    // terminated during that fetch (a database restart) left a rejected promise nobody awaited and
    // replayed its error onto the next query (tests/db/connection-startup.test.ts).
    fetch_types: false,
    connection: {
      application_name: "orgdesk",
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    },
  });
  const db = drizzlePostgres(pg, { schema }) as unknown as Db;
  return { db, driver: "postgres", pg, url, close: () => pg.end({ timeout: 5 }) };
}

export const PGLITE_EXTENSIONS = { btree_gist };

/** Embedded PostgreSQL in `dataDir` (or in memory when omitted), or restored from a dump. */
export async function openPglite(dataDir?: string, loadDataDir?: Blob | File): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const lite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    ...(loadDataDir ? { loadDataDir } : {}),
    extensions: PGLITE_EXTENSIONS,
  });
  const db = drizzlePglite(lite, { schema }) as unknown as Db;
  return { db, driver: "pglite", lite, close: () => lite.close() };
}

/**
 * Applies the committed migrations (those of `migrationsFolder` not applied yet). On PostgreSQL an
 * advisory lock serialises instances that start at the same time, so only one of them migrates.
 */
export async function migrate(database: Database, migrationsFolder = MIGRATIONS_DIR): Promise<void> {
  if (database.driver === "pglite") {
    await migratePglite(database.db as never, { migrationsFolder });
    return;
  }
  // A dedicated single connection: the advisory lock belongs to the session that takes it.
  const conn = postgres(database.url!, { max: 1, onnotice: () => {}, fetch_types: false });
  try {
    await conn`select pg_advisory_lock(7426331)`;
    await migratePostgres(drizzlePostgres(conn, { schema }), { migrationsFolder });
  } finally {
    await conn.end({ timeout: 5 });
  }
}

/** Opens the configured database: PostgreSQL when a URL is given, otherwise PGlite in dataDir. */
export async function openDatabase(config: {
  databaseUrl?: string;
  dataDir: string;
  statementTimeoutMs?: number;
  databaseConnectTimeoutSeconds?: number;
  databasePoolSize?: number;
}): Promise<Database> {
  const database = config.databaseUrl
    ? openPostgres(config.databaseUrl, {
        statementTimeoutMs: config.statementTimeoutMs,
        connectTimeoutSeconds: config.databaseConnectTimeoutSeconds,
        max: config.databasePoolSize,
      })
    : await openPglite(config.dataDir);
  await migrate(database);
  return database;
}

const dialect = new PgDialect();

/**
 * A parameterless SQL fragment rendered to text once, for statements run on every request: Drizzle
 * renders each table and column reference anew on every execution, which costs more CPU than a short
 * query does in PostgreSQL. The text still comes from the Drizzle objects it names.
 */
export function prerendered(fragment: SQL): SQL {
  const { sql: text, params } = dialect.sqlToQuery(fragment);
  if (params.length > 0) throw new Error("prerendered: the fragment must not hold parameters");
  return sql.raw(text);
}

/** Runs raw SQL and returns its rows, whichever driver is underneath. */
export async function rows<T = Record<string, unknown>>(db: DbOrTx, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** True when the database answers a trivial query. */
export async function ping(db: Db): Promise<boolean> {
  try {
    await db.execute(sql`select 1`);
    return true;
  } catch {
    return false;
  }
}
