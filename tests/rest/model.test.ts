import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { testDatabase } from "../support/db";
import { type ApiResponse, startTestServer } from "../support/http";
import { CURRENCIES } from "../../db/schema";

/**
 * Model-based test: random sequences of organization and agent commands and usage events run
 * through the REST API and, side by side, through a small reference model written here,
 * independently of the services. After every command the API must agree with the model:
 * membership, effective status, effective rate, agent counts and this month's billing totals
 * (token cost in USD, tokens, unpriced events). A failing sequence is shrunk by fast-check to a
 * minimal one and printed with its seed and path.
 *
 * Revenue is not compared: it is prorated by the second over real time, which a model cannot
 * predict exactly. Token cost is: events carry their own cost (4 decimals) or none at all.
 */
const SEED = Number(process.env.MODEL_SEED ?? 7426);
const RUNS = Number(process.env.MODEL_RUNS ?? 100);
const MAX_COMMANDS = Number(process.env.MODEL_MAX_COMMANDS ?? 25);

const database = await testDatabase();
const { api } = startTestServer(database);

const INTERNAL = "00000000-0000-4000-8000-000000000001";
const month = new Date().toISOString().slice(0, 7);

// ---------------------------------------------------------------------------------------------
// The reference model. Money in integer cents (rates) and 1/10 000 USD (costs).

interface MOrg {
  id: string;
  name: string;
  rate: number;
  currency: string;
  active: boolean;
  deleted: boolean;
  internal: boolean;
}
interface MAgent {
  id: string;
  name: string;
  status: "active" | "archived";
  customRate: number | null;
  orgId: string;
}
interface MEvent {
  payload: Record<string, unknown>;
  orgId: string;
}
interface Totals {
  cost: number;
  input: number;
  output: number;
  cache: number;
  unpriced: number;
}
interface Model {
  prefix: string;
  orgs: MOrg[];
  agents: MAgent[];
  events: Map<string, MEvent>;
  eventSeq: number;
  internalBaseline: Totals;
  internalAgentsBaseline: number;
}
type Real = { api: typeof api };

const cents = (n: number) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}`;
const tenThousandths = (n: number) => `${Math.floor(n / 10_000)}.${String(n % 10_000).padStart(4, "0")}`;
const live = (m: Model) => m.orgs.filter((o) => !o.deleted);
const orgOf = (m: Model, id: string) => m.orgs.find((o) => o.id === id)!;
const pickOf = <T>(xs: T[], i: number) => xs[i % xs.length]!;

function expectStatus(res: ApiResponse, status: number, what: string) {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
}

function totalsFromModel(m: Model, orgId: string): Totals {
  const t: Totals = { cost: 0, input: 0, output: 0, cache: 0, unpriced: 0 };
  for (const e of m.events.values()) {
    if (e.orgId !== orgId) continue;
    const p = e.payload as { input_tokens: number; output_tokens: number; cache_read_tokens?: number; cost_usd?: string };
    t.input += p.input_tokens;
    t.output += p.output_tokens;
    t.cache += p.cache_read_tokens ?? 0;
    if (p.cost_usd === undefined) t.unpriced++;
    else t.cost += Math.round(Number(p.cost_usd) * 10_000);
  }
  return t;
}

async function internalTotals(): Promise<Totals> {
  const res = await api.get(`/api/organizations/${INTERNAL}/billing-summary?from=${month}&to=${month}`);
  expectStatus(res, 200, "internal billing summary");
  const s = res.body.summary[0];
  return {
    cost: Math.round(Number(s.total_cost_usd) * 10_000),
    input: s.total_input_tokens,
    output: s.total_output_tokens,
    cache: s.total_cache_tokens,
    unpriced: s.unpriced_events,
  };
}

/** The whole comparison, after every command. */
async function agree(m: Model, r: Real) {
  const orgs = await r.api.get(`/api/organizations?q=${m.prefix}&limit=500`);
  expectStatus(orgs, 200, "list organizations");
  const seen = new Map<string, any>(orgs.body.organizations.map((o: any) => [o.id, o]));
  const expected = live(m).filter((o) => !o.internal);
  expect([...seen.keys()].sort()).toEqual(expected.map((o) => o.id).sort());
  for (const o of expected) {
    const got = seen.get(o.id);
    expect({ id: got.id, name: got.name, rate: got.billing_rate_per_agent, currency: got.currency, active: got.is_active, agents: got.agent_count }).toEqual({
      id: o.id,
      name: o.name,
      rate: cents(o.rate),
      currency: o.currency,
      active: o.active,
      agents: m.agents.filter((a) => a.orgId === o.id).length,
    });
  }

  const agents = await r.api.get(`/api/agents?q=${m.prefix}&limit=500`);
  expectStatus(agents, 200, "list agents");
  const byId = new Map<string, any>(agents.body.agents.map((a: any) => [a.id, a]));
  expect([...byId.keys()].sort()).toEqual(m.agents.map((a) => a.id).sort());
  for (const a of m.agents) {
    const org = orgOf(m, a.orgId);
    const got = byId.get(a.id);
    expect({
      org: got.org_id,
      status: got.status,
      effective: got.effective_status,
      rate: got.billing_rate,
      effectiveRate: got.effective_rate,
      source: got.rate_source,
    }).toEqual({
      org: a.orgId,
      status: a.status,
      effective: org.active ? a.status : "suspended",
      rate: a.customRate === null ? null : cents(a.customRate),
      effectiveRate: cents(a.customRate ?? org.rate),
      source: a.customRate === null ? "default" : "custom",
    });
  }

  for (const o of live(m)) {
    const res = await r.api.get(`/api/organizations/${o.id}/billing-summary?from=${month}&to=${month}`);
    expectStatus(res, 200, `billing summary of ${o.name}`);
    const s = res.body.summary[0];
    const t = totalsFromModel(m, o.id);
    const base = o.internal ? m.internalBaseline : { cost: 0, input: 0, output: 0, cache: 0, unpriced: 0 };
    expect({ cost: s.total_cost_usd, input: s.total_input_tokens, output: s.total_output_tokens, cache: s.total_cache_tokens, unpriced: s.unpriced_events }).toEqual({
      cost: tenThousandths(base.cost + t.cost),
      input: base.input + t.input,
      output: base.output + t.output,
      cache: base.cache + t.cache,
      unpriced: base.unpriced + t.unpriced,
    });
  }
  figures.checks++;
}

// ---------------------------------------------------------------------------------------------
// Commands: each predicts the answer from the model, sends the request, compares, updates the
// model, then checks full agreement.

const figures = { sequences: 0, commands: 0, checks: 0, byCommand: {} as Record<string, number> };
type Cmd = fc.AsyncCommand<Model, Real>;

abstract class Base implements Cmd {
  abstract check(m: Readonly<Model>): boolean;
  abstract act(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
  async run(m: Model, r: Real) {
    figures.commands++;
    const name = this.constructor.name;
    figures.byCommand[name] = (figures.byCommand[name] ?? 0) + 1;
    await this.act(m, r);
    await agree(m, r);
  }
}

class CreateOrg extends Base {
  constructor(readonly nameIdx: number, readonly rate: number, readonly currency: string) {
    super();
  }
  check = () => true;
  async act(m: Model, r: Real) {
    const name = `${m.prefix} Org ${"abc"[this.nameIdx % 3]}`;
    const res = await r.api.post("/api/organizations", { name, billing_rate_per_agent: cents(this.rate), currency: this.currency });
    expectStatus(res, 201, "create organization");
    m.orgs.push({ id: res.body.id, name, rate: this.rate, currency: this.currency, active: true, deleted: false, internal: false });
  }
  toString = () => `CreateOrg(${this.nameIdx}, ${cents(this.rate)}, ${this.currency})`;
}

class PatchOrgRate extends Base {
  constructor(readonly orgIdx: number, readonly rate: number) {
    super();
  }
  check = (m: Readonly<Model>) => m.orgs.length > 0;
  async act(m: Model, r: Real) {
    const o = pickOf(m.orgs, this.orgIdx);
    const res = await r.api.patch(`/api/organizations/${o.id}`, { billing_rate_per_agent: cents(this.rate) });
    if (o.deleted) return expectStatus(res, 404, "rate of a deleted organization");
    if (o.internal && this.rate !== o.rate) return expectStatus(res, 400, "rate of the internal organization");
    expectStatus(res, 200, "change rate");
    o.rate = this.rate;
  }
  toString = () => `PatchOrgRate(${this.orgIdx}, ${cents(this.rate)})`;
}

class ToggleOrg extends Base {
  constructor(readonly orgIdx: number, readonly explicit: boolean | null) {
    super();
  }
  check = (m: Readonly<Model>) => m.orgs.length > 0;
  async act(m: Model, r: Real) {
    const o = pickOf(m.orgs, this.orgIdx);
    const res = await r.api.post(`/api/organizations/${o.id}/toggle`, this.explicit === null ? undefined : { is_active: this.explicit });
    if (o.deleted) return expectStatus(res, 404, "toggle a deleted organization");
    const next = this.explicit ?? !o.active;
    if (o.internal && !next) return expectStatus(res, 409, "deactivate the internal organization");
    expectStatus(res, 200, "toggle");
    expect(res.body).toEqual({ id: o.id, is_active: next });
    o.active = next;
  }
  toString = () => `ToggleOrg(${this.orgIdx}, ${this.explicit})`;
}

class DeleteOrg extends Base {
  constructor(readonly orgIdx: number) {
    super();
  }
  check = (m: Readonly<Model>) => m.orgs.length > 0;
  async act(m: Model, r: Real) {
    const o = pickOf(m.orgs, this.orgIdx);
    const res = await r.api.delete(`/api/organizations/${o.id}`);
    if (o.deleted) return expectStatus(res, 404, "delete twice");
    if (o.internal) return expectStatus(res, 409, "delete the internal organization");
    if (m.agents.some((a) => a.orgId === o.id)) return expectStatus(res, 409, "delete an organization with agents");
    expectStatus(res, 200, "delete");
    o.deleted = true;
    expectStatus(await r.api.get(`/api/organizations/${o.id}`), 404, "read a deleted organization");
  }
  toString = () => `DeleteOrg(${this.orgIdx})`;
}

const AGENT_NAMES = ["Agent a", "Agent b", "agent A", "Agent c"];
/** Names are unique among the active agents of one organization, case-insensitively. */
const nameTaken = (m: Model, orgId: string, name: string, except?: string) =>
  m.agents.some((a) => a.id !== except && a.orgId === orgId && a.status === "active" && a.name.toLowerCase() === name.toLowerCase());

class CreateAgent extends Base {
  constructor(readonly nameIdx: number, readonly orgIdx: number) {
    super();
  }
  check = (m: Readonly<Model>) => m.orgs.length > 0;
  async act(m: Model, r: Real) {
    const name = `${m.prefix} ${AGENT_NAMES[this.nameIdx % AGENT_NAMES.length]}`;
    const o = pickOf(m.orgs, this.orgIdx);
    const res = await r.api.post("/api/agents", { name, org_id: o.id });
    if (o.deleted) return expectStatus(res, 404, "create an agent in a deleted organization");
    if (nameTaken(m, o.id, name)) return expectStatus(res, 409, "create an agent with a name taken in its organization");
    expectStatus(res, 201, "create agent");
    m.agents.push({ id: res.body.id, name, status: "active", customRate: null, orgId: o.id });
  }
  toString = () => `CreateAgent(${this.nameIdx}, ${this.orgIdx})`;
}

class Assign extends Base {
  constructor(readonly agentIdx: number, readonly orgIdx: number) {
    super();
  }
  check = (m: Readonly<Model>) => m.agents.length > 0 && m.orgs.length > 0;
  async act(m: Model, r: Real) {
    const a = pickOf(m.agents, this.agentIdx);
    const o = pickOf(m.orgs, this.orgIdx);
    const res = await r.api.post(`/api/agents/${a.id}/assign-org`, { orgId: o.id });
    if (o.deleted) return expectStatus(res, 404, "assign to a deleted organization");
    const moved = o.id !== a.orgId;
    if (moved && a.status === "active" && nameTaken(m, o.id, a.name, a.id)) return expectStatus(res, 409, "move into an organization that has the name");
    expectStatus(res, 200, "assign");
    expect({ reassigned: res.body.reassigned, previousOrgId: res.body.previousOrgId, orgId: res.body.orgId, rateCleared: res.body.rateCleared }).toEqual({
      reassigned: moved,
      previousOrgId: a.orgId,
      orgId: o.id,
      rateCleared: moved && a.customRate !== null,
    });
    if (moved) {
      a.orgId = o.id;
      a.customRate = null;
    }
  }
  toString = () => `Assign(${this.agentIdx}, ${this.orgIdx})`;
}

class Unassign extends Base {
  constructor(readonly agentIdx: number) {
    super();
  }
  check = (m: Readonly<Model>) => m.agents.length > 0;
  async act(m: Model, r: Real) {
    const a = pickOf(m.agents, this.agentIdx);
    const res = await r.api.post(`/api/agents/${a.id}/unassign-org`);
    if (a.orgId !== INTERNAL && a.status === "active" && nameTaken(m, INTERNAL, a.name, a.id)) return expectStatus(res, 409, "unassign into a pool that has the name");
    expectStatus(res, 200, "unassign");
    expect(res.body).toEqual({ success: true, previousOrgId: a.orgId, orgId: INTERNAL });
    if (a.orgId !== INTERNAL) {
      a.orgId = INTERNAL;
      a.customRate = null;
    }
  }
  toString = () => `Unassign(${this.agentIdx})`;
}

class SetAgentRate extends Base {
  constructor(readonly agentIdx: number, readonly rate: number | null, readonly alias: boolean) {
    super();
  }
  check = (m: Readonly<Model>) => m.agents.length > 0;
  async act(m: Model, r: Real) {
    const a = pickOf(m.agents, this.agentIdx);
    const value = this.rate === null ? null : cents(this.rate);
    const res = await r.api.patch(`/api/agents/${a.id}`, this.alias ? { billing_rate: value } : { billingRate: value });
    expectStatus(res, 200, "set agent rate");
    a.customRate = this.rate;
  }
  toString = () => `SetAgentRate(${this.agentIdx}, ${this.rate === null ? "null" : cents(this.rate)})`;
}

class SetAgentStatus extends Base {
  constructor(readonly agentIdx: number, readonly status: "active" | "archived") {
    super();
  }
  check = (m: Readonly<Model>) => m.agents.length > 0;
  async act(m: Model, r: Real) {
    const a = pickOf(m.agents, this.agentIdx);
    const res = await r.api.patch(`/api/agents/${a.id}`, { status: this.status });
    if (this.status === "active" && a.status === "archived" && nameTaken(m, a.orgId, a.name, a.id)) return expectStatus(res, 409, "unarchive into a taken name");
    expectStatus(res, 200, "set agent status");
    a.status = this.status;
  }
  toString = () => `SetAgentStatus(${this.agentIdx}, ${this.status})`;
}

type EventSpec = { kind: "fresh" | "same" | "changed"; agentIdx: number; eventIdx: number; input: number; output: number; cache: number; cost: number | null };

class Usage extends Base {
  constructor(readonly specs: EventSpec[]) {
    super();
  }
  check = (m: Readonly<Model>) => m.agents.length > 0;
  async act(m: Model, r: Real) {
    // The documented rules, in batch order: the first item with an id defines it for the batch; a
    // later item with that id and other content is a conflict, with the same content it shares the
    // first's fate. A first item whose id is stored is a duplicate (same content) or a conflict.
    const sent: Record<string, unknown>[] = [];
    const predicted = { accepted: 0, duplicates: 0, unpriced: 0, rejected: [] as { index: number; id: string; code: string }[] };
    const firstInBatch = new Map<string, { json: string; fate: "stored" | "conflict" }>();
    const added = new Map<string, MEvent>();
    const occurredAt = new Date().toISOString();
    this.specs.forEach((spec, index) => {
      const known = [...m.events.keys(), ...added.keys()];
      let payload: Record<string, unknown>;
      if (spec.kind !== "fresh" && known.length > 0) {
        const id = pickOf(known, spec.eventIdx);
        const original = (m.events.get(id) ?? added.get(id))!.payload;
        payload = spec.kind === "same" ? original : { ...original, input_tokens: (original.input_tokens as number) + 1 };
      } else {
        const agent = pickOf(m.agents, spec.agentIdx);
        payload = {
          id: `${m.prefix}-e${m.eventSeq++}`,
          agent_id: agent.id,
          model: spec.cost === null ? `${m.prefix.toLowerCase()}-unpriced-model` : `${m.prefix.toLowerCase()}-model`,
          input_tokens: spec.input,
          output_tokens: spec.output,
          ...(spec.cache > 0 ? { cache_read_tokens: spec.cache } : {}),
          ...(spec.cost === null ? {} : { cost_usd: tenThousandths(spec.cost) }),
          occurred_at: occurredAt,
        };
        added.set(payload.id as string, { payload, orgId: agent.orgId });
      }
      sent.push(payload);
      const id = payload.id as string;
      const json = JSON.stringify(payload);
      const first = firstInBatch.get(id);
      const conflict = () => predicted.rejected.push({ index, id, code: "id_conflict" });
      if (first) {
        if (first.json !== json || first.fate === "conflict") conflict();
        else predicted.duplicates++;
        return;
      }
      const stored = m.events.get(id);
      if (stored && JSON.stringify(stored.payload) !== json) {
        firstInBatch.set(id, { json, fate: "conflict" });
        conflict();
      } else {
        firstInBatch.set(id, { json, fate: "stored" });
        if (stored) predicted.duplicates++;
        else {
          predicted.accepted++;
          if (payload.cost_usd === undefined) predicted.unpriced++;
        }
      }
    });
    const res = await r.api.post("/api/usage", sent.length === 1 ? sent[0] : { events: sent });
    expectStatus(res, 200, "ingest usage");
    expect({
      accepted: res.body.accepted,
      duplicates: res.body.duplicates,
      unpriced: res.body.unpriced,
      rejected: res.body.rejected.map((x: any) => ({ index: x.index, id: x.id, code: x.code })),
    }).toEqual(predicted);
    for (const [id, e] of added) if (firstInBatch.get(id)?.fate === "stored") m.events.set(id, e);
  }
  toString = () => `Usage(${JSON.stringify(this.specs)})`;
}

const idx = fc.nat({ max: 30 });
const rateCents = fc.constantFrom(0, 1, 999, 9900, 12345, 99_999_999);
const eventSpec: fc.Arbitrary<EventSpec> = fc.record({
  kind: fc.constantFrom("fresh", "fresh", "fresh", "same", "changed") as fc.Arbitrary<EventSpec["kind"]>,
  agentIdx: idx,
  eventIdx: idx,
  input: fc.nat({ max: 5_000_000 }),
  output: fc.nat({ max: 1_000_000 }),
  cache: fc.nat({ max: 100_000 }),
  cost: fc.option(fc.nat({ max: 50_000_000 }), { nil: null, freq: 4 }),
});

const commands = [
  fc.tuple(fc.nat(), rateCents, fc.constantFrom(...CURRENCIES)).map(([n, r, c]) => new CreateOrg(n, r, c)),
  fc.tuple(idx, rateCents).map(([o, r]) => new PatchOrgRate(o, r)),
  fc.tuple(idx, fc.constantFrom(true, false, null)).map(([o, e]) => new ToggleOrg(o, e)),
  idx.map((o) => new DeleteOrg(o)),
  fc.tuple(fc.nat(), idx).map(([n, o]) => new CreateAgent(n, o)),
  fc.tuple(idx, idx).map(([a, o]) => new Assign(a, o)),
  idx.map((a) => new Unassign(a)),
  fc.tuple(idx, fc.option(rateCents, { nil: null }), fc.boolean()).map(([a, r, alias]) => new SetAgentRate(a, r, alias)),
  fc.tuple(idx, fc.constantFrom("active" as const, "archived" as const)).map(([a, s]) => new SetAgentStatus(a, s)),
  fc.array(eventSpec, { minLength: 1, maxLength: 4 }).map((specs) => new Usage(specs)),
  fc.array(eventSpec, { minLength: 1, maxLength: 4 }).map((specs) => new Usage(specs)),
];

// Sequences of 10 to MAX_COMMANDS commands (fc.commands favours short ones); fast-check shrinks a
// failing one by dropping and simplifying commands. Commands whose precondition does not hold
// (an agent command before any agent exists) are skipped.
const sequences = fc.array(fc.oneof(...commands), { minLength: Math.min(10, MAX_COMMANDS), maxLength: MAX_COMMANDS });

let run = 0;
async function freshModel(): Promise<Model> {
  run++;
  const internal = (await api.get(`/api/organizations/${INTERNAL}`)).body;
  return {
    prefix: `M${run}Z`,
    orgs: [{ id: INTERNAL, name: internal.name, rate: 0, currency: "USD", active: true, deleted: false, internal: true }],
    agents: [],
    events: new Map(),
    eventSeq: 0,
    internalBaseline: await internalTotals(),
    internalAgentsBaseline: internal.agent_count,
  };
}

describe("the REST API agrees with a reference model", () => {
  test(
    "random sequences of organization, agent, rate and usage commands keep membership, status, rates, counts and totals as the model says",
    async () => {
      await fc.assert(
        fc.asyncProperty(sequences, async (cmds) => {
          figures.sequences++;
          const model = await freshModel();
          await fc.asyncModelRun(() => ({ model, real: { api } }), cmds);
          // The internal organization's count moves with every agent, including other runs'.
          const internal = (await api.get(`/api/organizations/${INTERNAL}`)).body;
          expect(internal.agent_count).toBe(model.internalAgentsBaseline + model.agents.filter((a) => a.orgId === INTERNAL).length);
        }),
        { numRuns: RUNS, seed: SEED, verbose: 1, endOnFailure: process.env.MODEL_NO_SHRINK === "1" },
      );
      console.log(
        `model: seed ${SEED}, ${figures.sequences} sequences, ${figures.commands} commands, ${figures.checks} full comparisons; per command ${JSON.stringify(figures.byCommand)}`,
      );
    },
    600_000,
  );
});
