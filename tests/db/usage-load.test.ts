import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { ctxFor } from "../support/actors";
import { ingest, moveAgent, totals } from "../support/billing";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

/**
 * 100,000 distinct events plus 10% re-sent duplicates, in shuffled batches of 1000 sent 8 at a
 * time: exactly 100,000 stored, exactly 10,000 counted as duplicates, none rejected, and token and
 * cost totals (per organization, after moves) equal to the ones computed here. On PGlite, which
 * runs one statement at a time in-process, the count is 20,000 to keep the suite quick.
 */
const UNIQUE = TEST_DB_KIND === "pglite" ? 20_000 : 100_000;
const DUPLICATES = UNIQUE / 10;
const BATCH = 1000;
const PARALLEL = 8;

const database = await testDatabase({ max: PARALLEL + 2 });
const ctx = ctxFor(database);

/** Deterministic PRNG (mulberry32). */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const formatPico = (units: bigint) => {
  const s = units.toString().padStart(13, "0");
  return `${s.slice(0, -12)}.${s.slice(-12)}000000`;
};

test(`${UNIQUE} events with 10% duplicates in parallel batches: exact counts and totals`, async () => {
  const START = Date.UTC(2025, 0, 1);
  const MOVE = Date.UTC(2025, 0, 16);
  const orgs = [];
  for (let i = 0; i < 4; i++) orgs.push(await makeOrg(ctx, { billing_rate_per_agent: "50.00", created_at: new Date(START).toISOString() }));
  const agents: { id: string; before: number; after: number }[] = [];
  for (let i = 0; i < 20; i++) {
    const home = i % 4;
    const a = await makeAgent(ctx, { org_id: orgs[home]!.id, created_at: new Date(START).toISOString() });
    let after = home;
    if (i % 2 === 0) {
      after = (home + 1) % 4;
      await moveAgent(ctx, a.id, orgs[after]!.id, new Date(MOVE).toISOString());
    }
    agents.push({ id: a.id, before: home, after });
  }

  const random = prng(42);
  const expected = orgs.map(() => ({ events: 0, input: 0n, output: 0n, cacheRead: 0n, cost: 0n }));
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < UNIQUE; i++) {
    const agent = agents[Math.floor(random() * agents.length)]!;
    const at = START + Math.floor(random() * 30 * 86_400_000);
    const input = 100 + Math.floor(random() * 20_000);
    const output = Math.floor(random() * 4_000);
    const cacheRead = Math.floor(random() * 10_000);
    const own = i % 5 === 0 ? BigInt(Math.floor(random() * 1e9)) : null; // picodollars
    // gpt-4o-mini: 0.15 in, 0.60 out, 0.075 cache read per 1M = 150000, 600000, 75000 picodollars per token.
    const cost = own ?? BigInt(input) * 150_000n + BigInt(output) * 600_000n + BigInt(cacheRead) * 75_000n;
    const e = expected[at < MOVE ? agent.before : agent.after]!;
    e.events++;
    e.input += BigInt(input);
    e.output += BigInt(output);
    e.cacheRead += BigInt(cacheRead);
    e.cost += cost;
    events.push({
      id: `load-${i.toString(36)}-${Math.floor(random() * 1e9).toString(36)}`,
      agent_id: agent.id,
      model: "gpt-4o-mini",
      input_tokens: input,
      output_tokens: output,
      cache_read_tokens: cacheRead,
      occurred_at: new Date(at).toISOString(),
      ...(own !== null ? { cost_usd: formatPico(own).slice(0, -6) } : {}),
    });
  }
  // Duplicates: exact copies of random events, shuffled in with everything else.
  const all = [...events];
  for (let i = 0; i < DUPLICATES; i++) all.push(events[Math.floor(random() * events.length)]!);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < all.length; i += BATCH) batches.push(all.slice(i, i + BATCH));

  // The same event may appear twice in one batch (a duplicate there) or in two concurrent batches.
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const res = await ingest(ctx, batch);
        accepted += res.accepted;
        duplicates += res.duplicates;
        rejected += res.rejected.length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`[usage-load] ${TEST_DB_KIND}: ${all.length} events in ${batches.length} batches, ${PARALLEL} in parallel: ${seconds.toFixed(2)} s, ${Math.round(all.length / seconds)} events/s`);

  expect({ accepted, duplicates, rejected }).toEqual({ accepted: UNIQUE, duplicates: DUPLICATES, rejected: 0 });
  const [count] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events`);
  expect(count!.n).toBe(String(UNIQUE));
  for (let o = 0; o < orgs.length; o++) {
    const t = await totals(database, orgs[o]!.id);
    const e = expected[o]!;
    expect(t.raw).toEqual({ events: String(e.events), unpriced: "0", input: String(e.input), output: String(e.output), cr: String(e.cacheRead), cw: "0", cost: formatPico(e.cost), mismatched_keys: "0" });
    expect(t.rolled).toEqual(t.raw);
  }
}, 180_000);
