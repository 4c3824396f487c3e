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
  /**
   * A URL that reaches PostgreSQL itself, not a transaction pooler (PostgreSQL only): for work that
   * needs a session of its own (LISTEN, session-level locks). Same as `url` when none was given.
   */
  directUrl?: string;
  /** Where LISTEN works (PostgreSQL only): the URL itself, or behind a transaction pooler only a direct URL; none = poll. */
  listenUrl?: string;
  /** PGlite instance (embedded only). */
  lite?: PGlite;
  /** What the pool is doing now (PostgreSQL only; docs/operations.md, Metrics). */
  pool?: PoolStats;
  /** A streaming replica for report reads (`DATABASE_REPLICA_URL`), when configured. */
  replica?: Replica;
  close(): Promise<void>;
}

/**
 * What can be measured of a postgres.js pool from outside it (the driver exposes no counters):
 * queries handed to the pool and not yet answered (running, or waiting for a connection), and
 * transactions open (each holds one connection until it ends).
 */
export interface PoolStats {
  /** Connections the pool may open. */
  size: number;
  queriesInFlight: number;
  transactionsOpen: number;
}

/**
 * A read-only handle on a hot standby, and its own pool's figures. A statement that fails on the
 * replica for a reason of the replica's (unreachable, shutting down, a recovery conflict) runs again
 * on the primary and `failedAt` records when, so the reader can stop sending reads there for a while.
 */
export interface Replica {
  db: Db;
  pg: postgres.Sql;
  url: string;
  pool: PoolStats;
  /** `performance.now()` of the last statement the replica failed; 0 when none. */
  failedAt: number;
  /** Statements the replica failed and the primary ran instead, since start. */
  failovers: number;
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
  /**
   * `transaction`: the URL points at a pooler in transaction mode (PgBouncer): no named prepared
   * statements (PgBouncer before 1.21 cannot route them) and no session settings in the startup
   * packet (PgBouncer refuses `statement_timeout` there); set the timeout on the database role or
   * in the pooler instead (docs/operations.md, PgBouncer).
   */
  poolMode?: "session" | "transaction";
  /** Named prepared statements; default on, off in transaction pool mode (`DATABASE_PREPARE`). */
  prepare?: boolean;
  /** See `Database.directUrl`. */
  directUrl?: string;
}

export function openPostgres(url: string, options: PostgresOptions = {}): Database {
  const pooled = options.poolMode === "transaction";
  const pool: PoolStats = { size: options.max ?? 10, queriesInFlight: 0, transactionsOpen: 0 };
  const raw = postgres(url, {
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
    prepare: options.prepare ?? !pooled,
    // No pipelining behind a transaction pooler: PgBouncer before 1.21 hands the server connection
    // to another client at the first ReadyForQuery, and the answer to a statement already sent
    // behind it arrives "when not linked" — that server is closed and the statement never answers.
    // 0 relies on our postgres.js patch (transactions still reserve their connection).
    ...(pooled ? { max_pipeline: 0 } : {}),
    connection: {
      application_name: "orgdesk",
      ...(options.statementTimeoutMs && !pooled ? { statement_timeout: options.statementTimeoutMs } : {}),
    },
  });
  const pg = counted(raw, pool);
  const db = drizzlePostgres(pg, { schema }) as unknown as Db;
  return {
    db,
    driver: "postgres",
    pg: raw,
    url,
    directUrl: options.directUrl ?? url,
    // Behind a transaction pooler LISTEN would land on whichever server connection the pooler picks
    // and miss notifications: only a direct URL can listen.
    listenUrl: pooled ? options.directUrl : url,
    pool,
    close: () => raw.end({ timeout: 5 }),
  };
}

/**
 * The postgres.js client as Drizzle sees it, counting into `pool` the queries it hands over until
 * each is answered, and the transactions until each ends. Drizzle runs every statement through
 * `unsafe` and every transaction through `begin`; statements inside a transaction use the
 * transaction's own connection and are counted as the transaction.
 */
function counted(pg: postgres.Sql, pool: PoolStats): postgres.Sql {
  return new Proxy(pg, {
    get(target, prop, receiver) {
      if (prop === "unsafe") {
        return (...args: Parameters<postgres.Sql["unsafe"]>) => {
          const query = target.unsafe(...args) as unknown as { resolve: (x: unknown) => void; reject: (x: unknown) => void };
          const { resolve, reject } = query;
          pool.queriesInFlight++;
          let settled = false;
          const done = () => {
            if (!settled) pool.queriesInFlight--;
            settled = true;
          };
          query.resolve = (x) => (done(), resolve(x));
          query.reject = (x) => (done(), reject(x));
          return query;
        };
      }
      if (prop === "begin") {
        return async (...args: unknown[]) => {
          pool.transactionsOpen++;
          try {
            return await (target.begin as (...a: unknown[]) => Promise<unknown>)(...args);
          } finally {
            pool.transactionsOpen--;
          }
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

/**
 * A pool on a hot standby for report reads: short connection timeout (a replica that does not
 * answer must not hold a report up: the report goes to the primary), never migrated.
 */
export function openReplica(url: string, primary: postgres.Sql, options: PostgresOptions = {}): Replica {
  const { pg, pool, close } = openPostgres(url, { ...options, connectTimeoutSeconds: Math.min(options.connectTimeoutSeconds ?? 2, 2) });
  const replica: Replica = { db: undefined as unknown as Db, pg: pg!, url, pool: pool!, failedAt: 0, failovers: 0, close };
  const client = failingOver(counted(pg!, pool!), primary, () => {
    replica.failedAt = performance.now();
    replica.failovers++;
  });
  replica.db = drizzlePostgres(client, { schema }) as unknown as Db;
  return replica;
}

/** Driver errors and SQLSTATEs that say the replica, not the statement, is at fault. */
const REPLICA_FAULTS = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED"]);
export function isReplicaFault(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  // 08: connection exceptions; 57P01-57P03: shutting down or starting; 40001 on a standby: a
  // query cancelled by a conflict with recovery (replay needed the rows it read).
  return REPLICA_FAULTS.has(code) || code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "40001";
}

/**
 * The replica's client as Drizzle sees it: each statement (`unsafe`) and each transaction (`begin`)
 * runs on the replica and, when the replica fails it (`isReplicaFault`), once more on the primary.
 */
function failingOver(replica: postgres.Sql, primary: postgres.Sql, failed: () => void): postgres.Sql {
  return new Proxy(replica, {
    get(target, prop, receiver) {
      if (prop === "unsafe") {
        return (...args: Parameters<postgres.Sql["unsafe"]>) => {
          let values = false;
          const on = (client: postgres.Sql) => {
            const query = client.unsafe(...args);
            return values ? query.values() : query;
          };
          const run = async () => {
            try {
              return await on(target);
            } catch (err) {
              if (!isReplicaFault(err)) throw err;
              failed();
              return await on(primary);
            }
          };
          const pending = {
            values() {
              values = true;
              return pending;
            },
            then(resolve: (x: unknown) => unknown, reject: (e: unknown) => unknown) {
              return run().then(resolve, reject);
            },
          };
          return pending;
        };
      }
      if (prop === "begin") {
        return async (...args: unknown[]) => {
          try {
            return await (target.begin as (...a: unknown[]) => Promise<unknown>)(...args);
          } catch (err) {
            if (!isReplicaFault(err)) throw err;
            failed();
            return (primary.begin as (...a: unknown[]) => Promise<unknown>)(...args);
          }
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
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
 * Applies the committed migrations (those of `migrationsFolder` not applied yet). On PostgreSQL they run in one transaction that first takes a
 * transaction-level advisory lock: instances starting at the same time wait for each other, and
 * the next one finds nothing left to do. Transaction-level, so that it also works through a
 * transaction pooler, where consecutive statements of one client may reach different server
 * sessions and a session lock would stay behind on one of them (docs/operations.md).
 */
export async function migrate(database: Database, migrationsFolder = MIGRATIONS_DIR): Promise<void> {
  if (database.driver === "pglite") {
    await migratePglite(database.db as never, { migrationsFolder });
    return;
  }
  const conn = postgres(database.directUrl ?? database.url!, { max: 1, onnotice: () => {}, fetch_types: false, prepare: false });
  try {
    await conn.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(7426331)`;
      // Drizzle's migrator opens a transaction of its own with `begin`; inside ours it is a savepoint.
      // (The transaction's handle lacks the pool's `options`, which Drizzle reads its parsers from.)
      const inside = new Proxy(tx, {
        get: (target, prop, receiver) => (prop === "begin" ? target.savepoint : prop === "options" ? conn.options : Reflect.get(target, prop, receiver)),
      });
      await migratePostgres(drizzlePostgres(inside as unknown as postgres.Sql, { schema }), { migrationsFolder });
    });
  } finally {
    await conn.end({ timeout: 5 });
  }
}

/** Opens the configured database: PostgreSQL when a URL is given, otherwise PGlite in dataDir. */
export async function openDatabase(config: {
  databaseUrl?: string;
  databaseDirectUrl?: string;
  databaseReplicaUrl?: string;
  databasePoolMode?: "session" | "transaction";
  databasePrepare?: boolean;
  dataDir: string;
  statementTimeoutMs?: number;
  databaseConnectTimeoutSeconds?: number;
  databasePoolSize?: number;
}): Promise<Database> {
  const options: PostgresOptions = {
    statementTimeoutMs: config.statementTimeoutMs,
    connectTimeoutSeconds: config.databaseConnectTimeoutSeconds,
    max: config.databasePoolSize,
    poolMode: config.databasePoolMode,
    prepare: config.databasePrepare,
  };
  const database = config.databaseUrl ? openPostgres(config.databaseUrl, { ...options, directUrl: config.databaseDirectUrl }) : await openPglite(config.dataDir);
  await migrate(database);
  if (config.databaseUrl && config.databaseReplicaUrl) {
    const replica = openReplica(config.databaseReplicaUrl, database.pg!, options);
    const closePrimary = database.close;
    database.replica = replica;
    database.close = async () => {
      await Promise.all([closePrimary(), replica.close()]);
    };
  }
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

/**
 * Runs a statement whose text is the same at every run (its values are parameters) as a named
 * prepared statement where the driver allows one — postgres.js with prepared statements on (not
 * behind a transaction pooler): PostgreSQL then parses it once per connection and, once its plan
 * does not depend on the values, plans it once. Elsewhere (PGlite, a transaction handle) as `rows`.
 */
export async function preparedRows<T = Record<string, unknown>>(db: DbOrTx, query: SQL): Promise<T[]> {
  const client = (db as { $client?: { unsafe?: (text: string, params: unknown[], options: { prepare: boolean }) => Promise<unknown> } }).$client;
  if (!client?.unsafe) return rows<T>(db, query);
  const { sql: text, params } = dialect.sqlToQuery(query);
  return (await client.unsafe(text, params, { prepare: true })) as T[];
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

/**
 * Subscribes to a notification channel: PGlite's own, or a dedicated PostgreSQL connection to
 * `listenUrl` (closed by the returned function). Null when this database cannot listen (behind a
 * transaction pooler without a direct URL): callers then rely on polling.
 */
export async function listen(database: Database, channel: string, onNotify: () => void): Promise<(() => Promise<void>) | null> {
  if (database.driver === "pglite") {
    const stop = await database.lite!.listen(channel, onNotify);
    return async () => void (await stop());
  }
  if (!database.listenUrl) return null;
  const conn = postgres(database.listenUrl, { max: 1, onnotice: () => {}, fetch_types: false, prepare: false, connection: { application_name: "orgdesk-listen" } });
  try {
    const subscription = await conn.listen(channel, onNotify);
    return async () => {
      await subscription.unlisten().catch(() => {});
      await conn.end({ timeout: 5 });
    };
  } catch (err) {
    await conn.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
}

/**
 * Loads `data` (COPY text format, one row per line) with `statement` (`copy <table> (<columns>) from
 * stdin`) on the connection of the transaction `tx`, so the rows are visible to the transaction's
 * next statements and vanish with it if it rolls back. postgres.js streams it as COPY FROM STDIN;
 * PGlite, whose driver has no COPY FROM STDIN, reads the same text as a blob (`from '/dev/blob'`).
 */
export async function copyIn(tx: DbOrTx, statement: string, data: string): Promise<void> {
  if (!/ from stdin$/i.test(statement)) throw new Error("copyIn expects `copy … from stdin`");
  // Drizzle keeps the driver's handle of the transaction's connection on its session.
  const client = (tx as unknown as { session: { client: unknown } }).session.client as
    | { unsafe: postgres.Sql["unsafe"] }
    | { query: (q: string, params: unknown[], options: { blob: Blob }) => Promise<unknown> };
  if ("unsafe" in client) {
    const writable = await client.unsafe(statement).writable();
    await new Promise<void>((resolve, reject) => {
      writable.on("error", reject);
      writable.on("finish", resolve);
      writable.end(data);
    });
    return;
  }
  await client.query(statement.replace(/ from stdin$/i, " from '/dev/blob'"), [], { blob: new Blob([data]) });
}
