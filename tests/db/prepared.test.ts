import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { openPostgres, preparedRows, rows } from "../../db/client";
import { linesOf, monthRevenue } from "../../server/modules/billing/service";
import * as webhooks from "../../server/modules/webhooks/service";
import { ctxFor } from "../support/actors";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { makeOrg } from "../support/factories";

// One connection, so that the session whose prepared statements are listed is the one that ran them.
const database = await testDatabase({ max: 1 });
const db = database.db;
const onPostgres = TEST_DB_KIND === "postgres";

const sum = (a: number, b: number) => sql`select ${a}::int + ${b}::int as n, 'prepared-probe' as probe`;
/** The session's named prepared statements whose text contains `fragment`. */
const preparedWith = async (fragment: string) =>
  (await rows<{ n: number }>(db, sql`select count(*)::int as n from pg_prepared_statements where statement like ${`%${fragment}%`}`))[0]!.n;

describe("preparedRows", () => {
  test("gives the same rows as a plain statement, on every driver and inside a transaction", async () => {
    expect(await preparedRows<{ n: number }>(db, sum(2, 3))).toEqual(await rows<{ n: number }>(db, sum(2, 3)));
    expect((await preparedRows<{ n: number }>(db, sum(40, 2)))[0]!.n).toBe(42);
    await db.transaction(async (tx) => {
      expect((await preparedRows<{ n: number }>(tx, sum(1, 1)))[0]!.n).toBe(2);
    });
  });

  test.skipIf(!onPostgres)("on postgres.js runs one named prepared statement per text, whatever its values", async () => {
    for (let i = 0; i < 3; i++) await preparedRows(db, sum(i, i));
    expect(await preparedWith("prepared-probe")).toBe(1);
    // The webhook claim and recording statements run that way too.
    for (let i = 0; i < 2; i++) {
      await webhooks.claimDue(db, { token: crypto.randomUUID(), leaseMs: 1000 });
      await preparedRows(db, webhooks.recordStatement(crypto.randomUUID(), [], [], []));
    }
    expect(await preparedWith("for update skip locked")).toBe(1);
    expect(await preparedWith("json_to_recordset")).toBe(1);
  });

  test.skipIf(!onPostgres)("the billing figures' reads run as prepared statements, one per text, whatever the organization and range", async () => {
    const org = (id: string) => ({ id, name: "Probe", slug: "probe", currency: "USD", is_active: true, is_internal: false, is_deleted: false });
    const ranges = [
      { from: "2026-01", to: "2026-03", months: ["2026-01", "2026-02", "2026-03"] },
      { from: "2026-05", to: "2026-05", months: ["2026-05"] },
    ];
    for (const range of ranges) for (let i = 0; i < 2; i++) await linesOf(db, org(crypto.randomUUID()), range);
    expect(await preparedWith("::text as cr,")).toBe(1);
    expect(await preparedWith("from \"agent_rate_periods\"")).toBe(1);
    expect(await preparedWith("\"invoice_lines\"")).toBe(1);
    expect(await preparedWith("from \"org_status_periods\"")).toBe(1);
  });

  test.skipIf(!onPostgres)("the figures of several organizations read with the same statements whatever their number (no statement per count)", async () => {
    const owner = ctxFor(database);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await makeOrg(owner)).id);
    const before = await preparedWith("::text as cr,");
    for (const n of [2, 3, 5]) {
      const figures = await monthRevenue(db, ids.slice(0, n), "2026-05");
      expect(figures.map((f) => f.orgId).sort()).toEqual(ids.slice(0, n).sort());
    }
    // One usage read for several organizations (the single-organization one is another text).
    expect((await preparedWith("::text as cr,")) - before).toBe(1);
    expect(await preparedWith("as is_deleted")).toBeLessThanOrEqual(2);
  });

  test.skipIf(!onPostgres)("behind a transaction pooler (prepared statements off) it runs unnamed", async () => {
    const pooled = openPostgres(database.url!, { max: 1, prepare: false });
    afterAll(() => pooled.close());
    expect((await preparedRows<{ n: number }>(pooled.db, sum(5, 5)))[0]!.n).toBe(10);
    const [listed] = await rows<{ n: number }>(pooled.db, sql`select count(*)::int as n from pg_prepared_statements`);
    expect(listed!.n).toBe(0);
  });
});
