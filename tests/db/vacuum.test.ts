import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import type { Config } from "../../server/config";
import { dbVacuumHandler } from "../../server/jobs/handlers/db-vacuum";
import { startJobRunner } from "../../server/jobs/runner";
import { vacuumWhereDue, whyNoAutovacuum, workFor } from "../../server/modules/maintenance/service";
import { TEST_CONFIG } from "../support/actors";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { waitFor } from "../support/wait";

/**
 * Vacuum where the database does not vacuum itself (docs/operations.md, "Vacuum"): embedded
 * PGlite never does, and this machine's PostgreSQL runs with autovacuum off. Runs on both.
 */
const database = await testDatabase();
const db = database.db;

/** Deletes most rows of a fresh table, and has the counts reach the statistics views. */
async function churn(table: string, keep: number, of: number) {
  await db.execute(sql.raw(`create table ${table} (id int primary key, note text not null)`));
  await db.transaction(async (tx) => {
    await tx.execute(sql.raw(`insert into ${table} select g, repeat('x', 200) from generate_series(1, ${of}) g`));
    await tx.execute(sql.raw(`delete from ${table} where id > ${keep}`));
    // The backend that did the work flushes its counts once idle; this makes it do so at once.
    await tx.execute(sql`select pg_stat_force_next_flush()`);
  });
}

async function stats(table: string) {
  await rows(db, sql`select pg_stat_force_next_flush()`);
  const [row] = await rows<{ dead: string; live: string; vacuumed: boolean }>(
    db,
    sql`select n_dead_tup as dead, n_live_tup as live, last_vacuum is not null as vacuumed from pg_stat_user_tables where relname = ${table}`,
  );
  return { dead: Number(row?.dead ?? -1), live: Number(row?.live ?? -1), vacuumed: row?.vacuumed ?? false };
}

describe("when the database vacuums itself", () => {
  test("PGlite is named as running no autovacuum; PostgreSQL by its own setting", async () => {
    const why = await whyNoAutovacuum(db);
    if (TEST_DB_KIND === "pglite") {
      expect(why).toContain("PGlite");
    } else {
      const [setting] = await rows<{ autovacuum: string }>(db, sql`select current_setting('autovacuum') as autovacuum`);
      expect(why).toBe(setting!.autovacuum === "on" ? null : "autovacuum is off in this PostgreSQL");
    }
  });

  test("a table is due at autovacuum's default thresholds", () => {
    const quiet = { live: 1000, dead: 0, insertedSinceVacuum: 0, modifiedSinceAnalyze: 0 };
    expect(workFor(quiet)).toBeNull();
    expect(workFor({ ...quiet, dead: 250 })).toBeNull();
    expect(workFor({ ...quiet, dead: 251 })).toBe("vacuum");
    expect(workFor({ ...quiet, insertedSinceVacuum: 1200 })).toBeNull();
    expect(workFor({ ...quiet, insertedSinceVacuum: 1201 })).toBe("vacuum");
    expect(workFor({ ...quiet, modifiedSinceAnalyze: 150 })).toBeNull();
    expect(workFor({ ...quiet, modifiedSinceAnalyze: 151 })).toBe("analyze");
    expect(workFor({ live: 0, dead: 51, insertedSinceVacuum: 0, modifiedSinceAnalyze: 0 })).toBe("vacuum");
  });
});

describe("vacuuming where due", () => {
  test("a table whose rows were mostly deleted is vacuumed, its dead rows are gone, and a second pass leaves it alone", async () => {
    await churn("churned_a", 100, 5000);
    await waitFor("the deletions in the statistics", async () => (await stats("churned_a")).dead >= 4900);
    const sizeBefore = Number((await rows<{ size: string }>(db, sql`select pg_relation_size('churned_a') as size`))[0]!.size);

    const done = await vacuumWhereDue(db);
    const mine = done.find((d) => d.table === "public.churned_a");
    expect(mine).toMatchObject({ work: "vacuum", deadBefore: 4900 });

    const after = await waitFor("the vacuum in the statistics", async () => {
      const s = await stats("churned_a");
      return s.vacuumed ? s : null;
    });
    expect(after).toMatchObject({ dead: 0, live: 100 });
    // The emptied pages at the end of the file are given back.
    const sizeAfter = Number((await rows<{ size: string }>(db, sql`select pg_relation_size('churned_a') as size`))[0]!.size);
    expect(sizeAfter).toBeLessThan(sizeBefore / 5);

    const again = await vacuumWhereDue(db);
    expect(again.find((d) => d.table === "public.churned_a")).toBeUndefined();
  });

  test("the periodic job vacuums exactly when the database does not", async () => {
    await churn("churned_b", 10, 1000);
    await waitFor("the deletions in the statistics", async () => (await stats("churned_b")).dead >= 990);
    const config: Config = { ...TEST_CONFIG, jobPollIntervalMs: 50, jobConcurrency: 2 };
    const runner = startJobRunner({ database, config, handlers: [dbVacuumHandler] });
    try {
      // A run completed: the period's job is enqueued (the schedule moved on) and gone (done).
      await waitFor("the vacuum job's run", async () => {
        const [row] = await rows<{ done: boolean }>(
          db,
          sql`select exists (select 1 from job_schedules where kind = 'db.vacuum' and next_run_at > now())
                 and not exists (select 1 from jobs where kind = 'db.vacuum') as done`,
        );
        return row?.done;
      });
    } finally {
      await runner.stop(1000);
    }
    const vacuumed = (await stats("churned_b")).vacuumed;
    expect(vacuumed).toBe((await whyNoAutovacuum(db)) !== null);
  });
});
