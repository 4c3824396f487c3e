import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { MIGRATIONS_DIR, openPostgres, rows } from "../../db/client";
import { sql } from "drizzle-orm";
import { ADMIN_URL, TEST_DB_KIND, urlFor } from "../support/db";
import { type Instances, multiInstanceScenarios, SCENARIO_ENV } from "../support/multi-instance";
import { client } from "../support/http";
import { type PgBouncer, pgbouncerInstalled, startPgBouncer } from "../support/pgbouncer";
import { startProcess } from "../support/server-process";

/**
 * Orgdesk behind PgBouncer in transaction pooling mode (docs/operations.md, PgBouncer): two
 * instances migrate an empty database through it at the same time and then pass the
 * multi-instance invariants (tests/support/multi-instance.ts) with every statement going through
 * the pooler. PgBouncer 1.18 routes each transaction to any server connection, keeps no prepared
 * statements and refuses session settings at connection start: `DATABASE_POOL_MODE=transaction`
 * is what makes that work, and without it the server cannot reach the database.
 */
const onPostgres = TEST_DB_KIND === "postgres";
const KEY = "pgbouncer-admin-key";

describe.skipIf(!onPostgres || !pgbouncerInstalled())("two instances through PgBouncer in transaction mode", () => {
  const name = `orgdesk_t_${process.pid}_bouncer${crypto.randomUUID().slice(0, 6)}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  const direct = openPostgres(urlFor(name), { max: 4 });
  const bouncers: PgBouncer[] = [];
  const bouncer = async (options: Parameters<typeof startPgBouncer>[0] = {}) => {
    const b = await startPgBouncer(options);
    bouncers.push(b);
    return b;
  };
  afterAll(async () => {
    await Promise.all(bouncers.map((b) => b.stop()));
    await direct.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });

  let instances: Instances;
  multiInstanceScenarios(async () => {
    // An empty database: both instances migrate it through the pooler at the same time.
    await admin.unsafe(`create database "${name}"`);
    const pooler = await bouncer({ poolSize: 8, statementTimeoutMs: 15000 });
    const env = { DATABASE_URL: pooler.url(name), DATABASE_POOL_MODE: "transaction", ADMIN_API_KEY: KEY, WEB_DIR: "", ...SCENARIO_ENV };
    const [a, b] = await Promise.all([startProcess("server/index.ts", env), startProcess("server/index.ts", env)]);
    instances = { a: { ...a, key: KEY }, b: { ...b, key: KEY }, database: direct };
    return instances;
  });

  test("reports that send several statements at once answer through the pooler, on both instances", async () => {
    // A billing summary loads histories, usage and FX concurrently on one pool; pipelined on one
    // connection, PgBouncer 1.18 lost the answers and the requests hung (fixed by max_pipeline 0).
    const { a, b } = instances;
    const orgs = (await client(a.base, KEY).get("/api/organizations?limit=20")).body.organizations as { id: string }[];
    expect(orgs.length).toBeGreaterThan(3);
    const calls = [a, b].flatMap((via) =>
      orgs.flatMap((o) => [client(via.base, KEY).get(`/api/organizations/${o.id}/billing-summary?months=3`), client(via.base, KEY).get(`/api/organizations/${o.id}/billing?months=3`)]),
    );
    const answered = await Promise.race([Promise.all(calls), Bun.sleep(20_000).then(() => null)]);
    expect(answered).not.toBeNull();
    for (const r of answered!) expect(r.status).toBe(200);
  }, 30_000);

  test("the migrations ran once, through the pooler", async () => {
    const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta/_journal.json"), "utf8")) as { entries: unknown[] };
    const [applied] = await rows<{ n: number }>(direct.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(applied!.n).toBe(journal.entries.length);
  });

  test("the pooler's server connections carry the statement timeout it sets, not one sent by the client", async () => {
    const pooler = await bouncer({ statementTimeoutMs: 1234 });
    const through = postgres(pooler.url(name), { max: 1, prepare: false, onnotice: () => {}, fetch_types: false });
    try {
      const [row] = await through`show statement_timeout`;
      expect(row!.statement_timeout).toBe("1234ms");
    } finally {
      await through.end();
    }
  });

  test("without DATABASE_POOL_MODE=transaction the server does not start through the pooler: PgBouncer refuses the startup settings", async () => {
    const pooler = await bouncer();
    const start = startProcess("server/index.ts", { DATABASE_URL: pooler.url(name), DATABASE_DIRECT_URL: urlFor(name), ADMIN_API_KEY: KEY, WEB_DIR: "" }, 30_000);
    await expect(start).rejects.toThrow(/unsupported startup parameter: statement_timeout/);
  });
});
