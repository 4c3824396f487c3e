import { describe } from "bun:test";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { multiInstanceScenarios, SCENARIO_ENV } from "../support/multi-instance";
import { startProcess } from "../support/server-process";

/**
 * Several stateless instances behind a load balancer against one PostgreSQL (docs/scaling.md). Two real
 * server processes share one fresh database; moves, toggles and ingestion go through both at
 * once, and every invariant holds afterwards (tests/support/multi-instance.ts). Only the database
 * can make that true: neither process knows about the other.
 *
 * Skipped on PGlite: an embedded database belongs to the one process that opened it, so two
 * server processes cannot share it (that is what DATABASE_URL is for).
 */
const onPostgres = TEST_DB_KIND === "postgres";
const KEY = "multi-instance-admin-key";
const database = onPostgres ? await testDatabase() : undefined!;

describe.skipIf(!onPostgres)("two server processes on one PostgreSQL", () => {
  multiInstanceScenarios(async () => {
    // Both start at once: migrations run under an advisory lock, so the second waits and finds nothing to do.
    const env = { DATABASE_URL: database.url!, ADMIN_API_KEY: KEY, WEB_DIR: "", ...SCENARIO_ENV };
    const [a, b] = await Promise.all([startProcess("server/index.ts", env), startProcess("server/index.ts", env)]);
    return { a: { ...a, key: KEY }, b: { ...b, key: KEY }, database };
  });
});
