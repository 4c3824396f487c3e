import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { ctxFor } from "../support/actors";
import { event, ingest, putPrice, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

const database = await testDatabase({ max: 12 });
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const org = await makeOrg(ctx, { created_at: BEFORE });
const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });

test("a price added while batches of its model are being ingested leaves no event unpriced", async () => {
  const batches = Array.from({ length: 10 }, (_, b) =>
    Array.from({ length: 200 }, (_, i) => event(agent.id, { id: `race-${b}-${i}`, model: "race-model", occurred_at: "2025-06-10T00:00:00Z" })),
  );
  const results = await Promise.all([
    ...batches.slice(0, 5).map((batch) => ingest(ctx, batch)),
    putPrice(ctx, { model: "race-model", effective_from: "2025-01-01", input_per_m: "1", output_per_m: "2" }),
    ...batches.slice(5).map((batch) => ingest(ctx, batch)),
  ]);
  const accepted = results.reduce((n, r) => n + ("accepted" in r ? r.accepted : 0), 0);
  expect(accepted).toBe(2000);
  const [row] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events where model = 'race-model' and cost_usd is null`);
  expect(row!.n).toBe("0");
  const t = await totals(database);
  expect(t.rolled).toEqual(t.raw);
});

test("one id sent concurrently with different contents is stored once; the others are rejected as conflicts", async () => {
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => ingest(ctx, [event(agent.id, { id: "contested", input_tokens: i, occurred_at: "2025-06-11T00:00:00Z" })])),
  );
  expect(results.filter((r) => r.accepted === 1)).toHaveLength(1);
  expect(results.filter((r) => r.rejected[0]?.code === "id_conflict")).toHaveLength(7);
  const t = await totals(database);
  expect(t.rolled).toEqual(t.raw);
});
