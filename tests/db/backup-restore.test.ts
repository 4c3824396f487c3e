import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { seedDemo } from "../../server/demo/seed";
import { seedDemoUsage } from "../../server/demo/usage";
import { addMonths, monthOf } from "../../server/shared/time";
import { ctxFor } from "../support/actors";
import { ADMIN_URL, TEST_DB_KIND, testDatabase, urlFor } from "../support/db";
import { client, startTestServer } from "../support/http";
import { startProcess } from "../support/server-process";

/**
 * The backup procedure of docs/operations.md, run for real: `pg_dump -Fc` of a database holding
 * the demo's year of organizations, agents, moves, rate changes and usage, `pg_restore` into a new
 * database, a server started on the restored one, and every billing report compared with the
 * original's: identical, to the last digit.
 */
const onPostgres = TEST_DB_KIND === "postgres";
const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";
const KEY = "restore-admin-key";

describe.skipIf(!onPostgres)("backup with pg_dump and restore with pg_restore", () => {
  test("a server started on the restored database reports exactly what the original did", async () => {
    const original = await testDatabase();
    const ctx = ctxFor(original);
    await seedDemo(ctx);
    await seedDemoUsage(ctx, { months: 4, seed: 7 });
    const before = startTestServer(original);

    const dir = mkdtempSync(join(tmpdir(), "orgdesk-backup-"));
    const restoredName = `orgdesk_t_${process.pid}_restored${crypto.randomUUID().slice(0, 6)}`;
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
    afterAll(async () => {
      rmSync(dir, { recursive: true, force: true });
      await admin.unsafe(`drop database if exists "${restoredName}" with (force)`);
      await admin.end();
    });

    // The commands of docs/operations.md, Backups.
    const file = join(dir, "orgdesk.dump");
    const dump = Bun.spawnSync([`${BIN}/pg_dump`, "--format=custom", "--no-owner", "--file", file, original.url!], { stderr: "pipe" });
    expect(dump.stderr.toString()).toBe("");
    expect(dump.exitCode).toBe(0);
    expect(statSync(file).size).toBeGreaterThan(10_000);
    await admin.unsafe(`create database "${restoredName}"`);
    const restore = Bun.spawnSync([`${BIN}/pg_restore`, "--no-owner", "--exit-on-error", "--dbname", urlFor(restoredName), file], { stderr: "pipe" });
    expect(restore.stderr.toString()).toBe("");
    expect(restore.exitCode).toBe(0);

    // Without background jobs: the automatic close would finalize past months on the restored copy
    // only, and this compares what was dumped with what was restored.
    const after = await startProcess("server/index.ts", { DATABASE_URL: urlFor(restoredName), ADMIN_API_KEY: KEY, WEB_DIR: "", JOBS_ENABLED: "0" });
    afterAll(() => after.stop());
    const was = before.api;
    const now = client(after.base, KEY);

    // Closed months only: the current month's projection moves with the clock.
    const to = addMonths(monthOf(new Date()), -1);
    const from = addMonths(to, -11);
    const orgs = (await was.get("/api/organizations?limit=100")).body;
    const list = orgs.organizations as { id: string }[];
    expect(orgs.next_cursor).toBeNull();
    expect(list.length).toBeGreaterThan(3);
    expect((await now.get("/api/organizations?limit=100")).body).toEqual(orgs);
    let compared = 0;
    for (const org of list) {
      for (const path of [
        `/api/organizations/${org.id}/billing-summary?from=${from}&to=${to}`,
        `/api/organizations/${org.id}/billing?from=${from}&to=${to}`,
        `/api/organizations/${org.id}/billing/export?from=${from}&to=${to}&format=csv`,
      ]) {
        const a = await was.get(path);
        const b = await now.get(path);
        expect(a.status).toBe(200);
        expect(b.status).toBe(200);
        expect(b.body).toEqual(a.body);
        compared++;
      }
    }
    for (let m = from; m <= to; m = addMonths(m, 1)) {
      const a = await was.get(`/api/billing/overview?month=${m}`);
      expect(a.status).toBe(200);
      expect((await now.get(`/api/billing/overview?month=${m}`)).body).toEqual(a.body);
      compared++;
    }
    // The comparison covered real figures, not empty reports.
    const overview = (await was.get(`/api/billing/overview?month=${to}`)).body;
    expect(Number(overview.totals.cost_usd)).toBeGreaterThan(0);
    expect(compared).toBeGreaterThan(3 * 4 + 12);
    // The restored database is a working one: it takes writes.
    expect((await now.post("/api/organizations", { name: "After The Restore" })).status).toBe(201);
  }, 180_000);
});
