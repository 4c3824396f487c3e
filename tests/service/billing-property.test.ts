import { expect, test } from "bun:test";
import fc from "fast-check";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import * as billing from "../../server/modules/billing/service";
import { ctxFor } from "../support/actors";
import { ingest, moveAgent, setAgentRate, setAgentStatus, setOrgActive, setOrgRate, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

/**
 * Property: for random histories of moves, rate changes (agent and org), activation toggles,
 * archiving and usage events, every organization's monthly revenue equals an independent reference
 * that replays the operations second by second-interval, and rollups equal raw events exactly.
 */
const database = await testDatabase();
const ctx = ctxFor(database);

const T0 = Date.UTC(2024, 11, 15) / 1000; // creation of every org and agent
const END = Date.UTC(2025, 3, 1) / 1000; // operations happen before April 2025
const MONTHS = ["2024-12", "2025-01", "2025-02", "2025-03"];
const monthBounds = MONTHS.map((m) => {
  const [y, mo] = m.split("-").map(Number) as [number, number];
  return { month: m, start: Date.UTC(y, mo - 1, 1) / 1000, end: Date.UTC(y, mo, 1) / 1000 };
});

const ORGS = 3;
const cents = fc.integer({ min: 0, max: 25_000 });
const time = fc.integer({ min: T0 + 1, max: END - 1 });
const op = fc.oneof(
  fc.record({ kind: fc.constant("move" as const), agent: fc.nat(2), org: fc.nat(ORGS - 1), t: time }),
  fc.record({ kind: fc.constant("agentRate" as const), agent: fc.nat(2), rate: fc.option(cents, { nil: null }), t: time }),
  fc.record({ kind: fc.constant("orgRate" as const), org: fc.nat(ORGS - 1), rate: cents, t: time }),
  fc.record({ kind: fc.constant("toggle" as const), org: fc.nat(ORGS - 1), t: time }),
  fc.record({ kind: fc.constant("archive" as const), agent: fc.nat(2), t: time }),
  fc.record({ kind: fc.constant("event" as const), agent: fc.nat(2), t: time, micros: fc.integer({ min: 0, max: 9_999_999 }) }),
);
const scenario = fc.record({
  orgRates: fc.array(cents, { minLength: ORGS, maxLength: ORGS }),
  agentOrgs: fc.array(fc.nat(ORGS - 1), { minLength: 1, maxLength: 3 }),
  ops: fc.array(op, { maxLength: 16 }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

const money = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, "0")}`;
const iso = (s: number) => new Date(s * 1000).toISOString();

/** n/d rounded half-to-even to an integer (d > 0), on BigInts: the reference's own rounding. */
function roundHalfEven(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n % d;
  if (r * 2n > d || (r * 2n === d && q % 2n === 1n)) return q + 1n;
  return q;
}
const centsToString = (c: bigint) => `${c / 100n}.${String(c % 100n).padStart(2, "0")}`;

/** Replays the operations in time order and bills every interval between two changes. */
function reference(s: Scenario) {
  const nAgents = s.agentOrgs.length;
  const ops = s.ops
    .map((o, i) => ({ ...o, i, agent: "agent" in o ? o.agent % nAgents : 0 }))
    .sort((a, b) => a.t - b.t || a.i - b.i);
  const state = {
    agentOrg: [...s.agentOrgs],
    custom: s.agentOrgs.map(() => null as number | null),
    archived: s.agentOrgs.map(() => false),
    orgActive: s.orgRates.map(() => true),
    orgRate: [...s.orgRates],
  };
  const applied: typeof ops = [];
  const apply = (o: (typeof ops)[number]) => {
    switch (o.kind) {
      case "move":
        if (state.agentOrg[o.agent] === o.org) return;
        state.agentOrg[o.agent] = o.org;
        state.custom[o.agent] = null; // a move clears the custom rate
        break;
      case "agentRate":
        if (state.custom[o.agent] === o.rate) return;
        state.custom[o.agent] = o.rate;
        break;
      case "orgRate":
        if (state.orgRate[o.org] === o.rate) return;
        state.orgRate[o.org] = o.rate;
        break;
      case "toggle":
        state.orgActive[o.org] = !state.orgActive[o.org];
        break;
      case "archive":
        state.archived[o.agent] = !state.archived[o.agent];
        break;
      case "event":
        break;
    }
    applied.push(o);
  };
  // revenue numerators: rate cents × seconds, per org|agent|month
  const acc = new Map<string, bigint>();
  const cuts = [...new Set([T0, ...ops.map((o) => o.t), ...monthBounds.map((m) => m.start), ...monthBounds.map((m) => m.end)])].sort((a, b) => a - b);
  let next = 0;
  const eventOrg = new Map<number, number>();
  for (let k = 0; k + 1 < cuts.length; k++) {
    const a = cuts[k]!;
    const b = cuts[k + 1]!;
    while (next < ops.length && ops[next]!.t <= a) {
      const o = ops[next++]!;
      if (o.kind === "event") eventOrg.set(o.i, state.agentOrg[o.agent]!);
      apply(o);
    }
    if (a < T0) continue;
    const month = monthBounds.find((m) => m.start <= a && a < m.end);
    if (!month) continue;
    for (let ag = 0; ag < nAgents; ag++) {
      const org = state.agentOrg[ag]!;
      if (!state.orgActive[org] || state.archived[ag]) continue;
      const rate = state.custom[ag] ?? state.orgRate[org]!;
      const key = `${org}|${ag}|${month.month}`;
      acc.set(key, (acc.get(key) ?? 0n) + BigInt(rate) * BigInt(b - a));
    }
  }
  const revenue = new Map<string, bigint>(); // org|month → Σ rounded lines, in cents
  for (const [key, numerator] of acc) {
    const [org, , month] = key.split("|");
    const m = monthBounds.find((x) => x.month === month)!;
    const line = roundHalfEven(numerator, BigInt(m.end - m.start));
    revenue.set(`${org}|${month}`, (revenue.get(`${org}|${month}`) ?? 0n) + line);
  }
  return { ops, applied, revenue, eventOrg };
}

let run = 0;
test("a month's revenue per organization equals the reference, and rollups equal raw events", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      run++;
      const ref = reference(s);
      const orgs = [];
      for (let o = 0; o < ORGS; o++) orgs.push(await makeOrg(ctx, { billing_rate_per_agent: money(s.orgRates[o]!), created_at: iso(T0) }));
      const agents = [];
      for (const o of s.agentOrgs) agents.push(await makeAgent(ctx, { org_id: orgs[o]!.id, created_at: iso(T0) }));
      const events: Record<string, unknown>[] = [];
      for (const o of ref.applied) {
        const at = iso(o.t);
        const agentId = agents[o.agent]?.id as string;
        if (o.kind === "move") await moveAgent(ctx, agentId, orgs[o.org]!.id, at);
        else if (o.kind === "agentRate") await setAgentRate(ctx, agentId, o.rate === null ? null : money(o.rate), at);
        else if (o.kind === "orgRate") await setOrgRate(ctx, orgs[o.org]!.id, money(o.rate), at);
        else if (o.kind === "toggle") {
          const current = await rows<{ a: boolean }>(database.db, sql`select is_active as a from organizations where id = ${orgs[o.org]!.id}::uuid`);
          await setOrgActive(ctx, orgs[o.org]!.id, !current[0]!.a, at);
        } else if (o.kind === "archive") {
          const current = await rows<{ s: string }>(database.db, sql`select status as s from agents where id = ${agentId}::uuid`);
          await setAgentStatus(ctx, agentId, current[0]!.s === "archived" ? "active" : "archived", at);
        } else {
          events.push({ id: `prop-${run}-${o.i}`, agent_id: agentId, model: "gpt-4o-mini", input_tokens: o.micros, output_tokens: o.i, occurred_at: at, ...(o.i % 3 === 0 ? { cost_usd: `0.${String(o.micros).padStart(7, "0")}` } : {}) });
        }
      }
      // Events arrive after every change (late): each still goes to the org of its moment.
      if (events.length > 0) expect((await ingest(ctx, events)).accepted).toBe(events.length);
      for (const o of ref.applied) {
        if (o.kind !== "event") continue;
        const [row] = await rows<{ org: string }>(database.db, sql`select org_id::text as org from usage_events where id = ${`prop-${run}-${o.i}`}`);
        expect(row!.org).toBe(orgs[ref.eventOrg.get(o.i)!]!.id);
      }
      const monthTotal = new Map<string, bigint>();
      for (let o = 0; o < ORGS; o++) {
        const summary = await billing.summary({ ctx, input: { id: orgs[o]!.id, from: MONTHS[0], to: MONTHS.at(-1) } });
        for (const m of summary.summary) {
          const expected = centsToString(ref.revenue.get(`${o}|${m.month}`) ?? 0n);
          expect({ org: o, month: m.month, revenue: m.total_revenue }).toEqual({ org: o, month: m.month, revenue: expected });
          const c = BigInt(m.total_revenue.replace(".", ""));
          monthTotal.set(m.month, (monthTotal.get(m.month) ?? 0n) + c);
        }
      }
      for (const month of MONTHS) {
        let expected = 0n;
        for (let o = 0; o < ORGS; o++) expected += ref.revenue.get(`${o}|${month}`) ?? 0n;
        expect(monthTotal.get(month)).toBe(expected);
      }
      const t = await totals(database);
      expect(t.rolled).toEqual(t.raw);
    }),
    { numRuns: 40 },
  );
}, 120_000);
