import { describe, expect, test } from "bun:test";
import { ctxFor } from "../support/actors";
import { event, ingest } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

/**
 * An event repeated inside one batch shares the fate of its first occurrence. Found by the
 * model-based test (tests/rest/model.test.ts): a repeat of an item that was itself rejected was
 * counted as a duplicate, i.e. reported as stored although nothing with that content was.
 */
const database = await testDatabase();
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const org = await makeOrg(ctx, { created_at: BEFORE });
const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });

describe("repeats inside one batch", () => {
  test("a repeat of a conflicting item is rejected like it, not counted as a duplicate", async () => {
    const stored = event(agent.id, { occurred_at: "2025-06-01T10:00:00Z", cost_usd: "0.10" });
    await ingest(ctx, [stored]);
    const changed = { ...stored, input_tokens: (stored.input_tokens as number) + 1 };
    const res = await ingest(ctx, [changed, changed]);
    expect(res.accepted).toBe(0);
    expect(res.duplicates).toBe(0);
    expect(res.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, "id_conflict"],
      [1, "id_conflict"],
    ]);
  });

  test("a repeat of an item for an unknown agent is rejected like it", async () => {
    const ghost = event("00000000-0000-4000-8000-00000000dead", { occurred_at: "2025-06-01T10:00:00Z" });
    const res = await ingest(ctx, [ghost, ghost]);
    expect(res).toMatchObject({ accepted: 0, duplicates: 0 });
    expect(res.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, "unknown_agent"],
      [1, "unknown_agent"],
    ]);
  });

  test("a repeat of a stored or newly accepted item is a duplicate; every item is accounted for once", async () => {
    const fresh = event(agent.id, { occurred_at: "2025-06-02T10:00:00Z" });
    const res = await ingest(ctx, [fresh, fresh, fresh]);
    expect(res).toMatchObject({ accepted: 1, duplicates: 2, rejected: [] });
    const again = await ingest(ctx, [fresh, fresh]);
    expect(again).toMatchObject({ accepted: 0, duplicates: 2, rejected: [] });
  });
});
