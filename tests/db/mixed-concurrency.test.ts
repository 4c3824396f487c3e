import { expect, test } from "bun:test";
import { ctxFor } from "../support/actors";
import { event, ingest } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import * as agents from "../../server/modules/agents/service";
import * as orgs from "../../server/modules/orgs/service";
import { agentAssignInput } from "../../server/modules/agents/schema";
import { orgUpdateInput } from "../../server/modules/orgs/schema";

/**
 * Everyday operations running at once on the same rows — moves, toggles, rate changes, usage
 * ingestion — never deadlock. Found by the soak: a move, a toggle and an ingestion formed a cycle,
 * because moves and toggles locked rows FOR UPDATE, which also blocks the key-share locks that
 * ingestion takes on the agents and organizations its events reference (their foreign keys then,
 * one statement-level check since migration 0021).
 */
const database = await testDatabase({ max: 16 });
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const targets = [await makeOrg(ctx, { created_at: BEFORE }), await makeOrg(ctx, { created_at: BEFORE }), await makeOrg(ctx, { created_at: BEFORE })];
const crew: { id: string }[] = [];
for (let i = 0; i < 4; i++) crew.push(await makeAgent(ctx, { org_id: targets[i % 3]!.id, created_at: BEFORE }));

test("moves, toggles, rate changes and ingestion on the same rows at once finish without a conflict", async () => {
  const errors: string[] = [];
  let seq = 0;
  const worker = async (w: number) => {
    for (let i = 0; i < 150; i++) {
      const agent = crew[(w + i) % crew.length]!;
      const org = targets[(w * 7 + i) % targets.length]!;
      try {
        switch ((w + i) % 4) {
          case 0:
            await agents.assign({ ctx, input: agentAssignInput.parse({ id: agent.id, orgId: org.id }) });
            break;
          case 1:
            await orgs.toggle({ ctx, input: { id: org.id, is_active: i % 3 !== 0 } });
            break;
          case 2:
            await orgs.update({ ctx, input: orgUpdateInput.parse({ id: org.id, billing_rate_per_agent: ["10.00", "20.00"][i % 2]! }) });
            break;
          default:
            await ingest(
              ctx,
              crew.map((a) => event(a.id, { id: `mixed-${w}-${i}-${seq++}` })),
            );
        }
      } catch (err) {
        errors.push(String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
  expect(errors).toEqual([]);
}, 120_000);
