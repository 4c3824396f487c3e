import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { mapSpans, parseJsonRequest } from "../../server/modules/usage/otlp";
import * as usage from "../../server/modules/usage/service";
import { ctxFor, readKey, TEST_CONFIG } from "../support/actors";
import { ingest, moveAgent, putPrice, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

/**
 * The bulk import as a service (PostgreSQL's COPY FROM STDIN, PGlite's COPY from a blob): the same
 * events give the same result through `usage.ingest` and `usage.importUsage`.
 */
const database = await testDatabase();
const ctx = ctxFor(database);
const CREATED = "2025-05-01T00:00:00Z";
await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-01-01", input_per_m: "2.50", output_per_m: "10.00", cache_read_per_m: "1.25" });
await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-06-20", input_per_m: "3.00", output_per_m: "12.00" });

const encoder = new TextEncoder();
/** `text` as a request body arriving in pieces of `size` bytes (lines and characters cut anywhere). */
function streamOf(text: string | Uint8Array, size = 65_536): ReadableStream<Uint8Array> {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}
const importText = (c: typeof ctx, format: "csv" | "ndjson", text: string | Uint8Array, size?: number) => usage.importUsage({ ctx: c, input: { format, body: streamOf(text, size) } });
const withBatch = (rows: number) => ({ ...ctx, config: { ...TEST_CONFIG, importBatchRows: rows } });

const COLUMNS = ["id", "agent_id", "model", "provider", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd", "occurred_at"] as const;
const csvOf = (events: Record<string, unknown>[]) =>
  [COLUMNS.join(","), ...events.map((e) => COLUMNS.map((c) => (e[c] === undefined || e[c] === null ? "" : `"${String(e[c]).replace(/"/g, '""')}"`)).join(","))].join("\n") + "\n";

/**
 * Two organizations and three agents; the second agent moves from the first to the second on June
 * 15. With `refs`, the agents carry external ids (what an OpenTelemetry span names).
 */
async function world(refs?: string) {
  const x = await makeOrg(ctx, { created_at: CREATED });
  const y = await makeOrg(ctx, { created_at: CREATED });
  const agents = [];
  for (let i = 0; i < 3; i++) agents.push(await makeAgent(ctx, { org_id: x.id, created_at: CREATED, ...(refs ? { external_id: `${refs}-${i}` } : {}) }));
  await moveAgent(ctx, agents[1]!.id, y.id, "2025-06-15T00:00:00Z");
  return { orgs: [x.id, y.id], agents: agents.map((a) => a.id), refs: agents.map((a) => a.external_id ?? "") };
}

/** The world's rollups, with organizations and agents named by their role in it. */
async function rollupsOf(w: { orgs: string[]; agents: string[] }) {
  const found = await rows<Record<string, string>>(
    database.db,
    sql`select org_id::text as org, agent_id::text as agent, model, month::text as month, events::text as events, unpriced_events::text as unpriced,
               input_tokens::text as input, output_tokens::text as output, cache_read_tokens::text as cache_read, cost_usd::text as cost
        from usage_month_totals where agent_id in (select jsonb_array_elements_text(${JSON.stringify(w.agents)}::jsonb)::uuid)`,
  );
  return found.map((r) => ({ ...r, org: w.orgs.indexOf(r.org!), agent: w.agents.indexOf(r.agent!), cost: Number(r.cost) })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

const generated = fc.record({
  key: fc.nat(20),
  agent: fc.nat(2),
  model: fc.constantFrom("gpt-4o", "GPT-4o-2024-08-06", "unpriced-model"),
  provider: fc.option(fc.constantFrom("openai", "azure"), { nil: undefined }),
  input: fc.nat(100_000),
  output: fc.nat(100_000),
  cacheRead: fc.option(fc.nat(10_000), { nil: undefined }),
  cost: fc.option(fc.constantFrom("0", "0.125", "1.000000000001"), { nil: undefined }),
  // From late April (before the agents existed) to the end of July 2025.
  at: fc.integer({ min: Date.UTC(2025, 3, 25) / 1000, max: Date.UTC(2025, 6, 31) / 1000 }),
  // One line in ten is invalid (negative tokens).
  broken: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});
type Generated = typeof generated extends fc.Arbitrary<infer T> ? T : never;

function eventOf(g: Generated, prefix: string, agents: string[]): Record<string, unknown> {
  return {
    id: `${prefix}-${g.key}`,
    agent_id: agents[g.agent],
    model: g.model,
    provider: g.provider,
    input_tokens: g.broken ? -1 : g.input,
    output_tokens: g.output,
    cache_read_tokens: g.cacheRead,
    cost_usd: g.cost,
    occurred_at: new Date(g.at * 1000).toISOString(),
  };
}

/** An OTLP JSON attribute value. */
const otlpValue = (v: string | number) => (typeof v === "number" ? { intValue: String(v) } : { stringValue: v });
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/**
 * The generated events as OpenTelemetry GenAI `chat` spans in OTLP JSON, `perRequest` spans to a
 * request: one trace per agent, span ids from the event's key (a key sent twice is the exporter
 * sending the span again). The span's input total includes its cache reads, as GenAI
 * instrumentations count it. With `viaParent`, the chat spans do not name their agent: the trace's
 * `invoke_agent` root does, and the roots come last, in a request of their own (the chat spans wait
 * for them until then).
 */
function otlpRequests(gen: Generated[], trace: string, refs: string[], perRequest: number, viaParent: boolean): string[] {
  const traceId = (agent: number) => `${trace}${hex(agent + 1, 8)}`;
  const root = (agent: number) => `f${hex(agent + 1, 15)}`;
  const attr = (o: Record<string, string | number | undefined>) => Object.entries(o).filter(([, v]) => v !== undefined).map(([key, v]) => ({ key, value: otlpValue(v!) }));
  const chat = gen.map((g) => ({
    traceId: traceId(g.agent),
    spanId: hex(g.key + 1, 16),
    parentSpanId: viaParent ? root(g.agent) : "",
    name: `chat ${g.model}`,
    endTimeUnixNano: `${g.at}000000000`,
    attributes: attr({
      "gen_ai.operation.name": "chat",
      "gen_ai.agent.id": viaParent ? undefined : refs[g.agent],
      "gen_ai.provider.name": g.provider,
      "gen_ai.response.model": g.model,
      "gen_ai.usage.input_tokens": g.input + (g.cacheRead ?? 0),
      "gen_ai.usage.output_tokens": g.output,
      "gen_ai.usage.cache_read.input_tokens": g.cacheRead,
    }),
  }));
  const batches: (typeof chat)[] = [];
  for (let start = 0; start < chat.length; start += perRequest) batches.push(chat.slice(start, start + perRequest));
  if (viaParent) {
    batches.push(
      refs.map((ref, agent) => ({
        traceId: traceId(agent),
        spanId: root(agent),
        parentSpanId: "",
        name: `invoke_agent ${ref}`,
        endTimeUnixNano: `${Date.UTC(2025, 7, 1)}000000`,
        attributes: attr({ "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": ref }),
      })),
    );
  }
  return batches.map((spans) => JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "support-agent" } }] }, scopeSpans: [{ spans }] }] }));
}

describe("bulk import (service)", () => {
  test("property: the same events through ingest and through the import (CSV and NDJSON, any batch size and chunking) give the same results and rollups", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(generated, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 200 }), fc.boolean(), async (gen, batchRows, chunk, csv) => {
        const tag = `${process.pid}-${run++}-${Date.now().toString(36)}`;
        const [viaApi, viaImport] = [await world(), await world()];
        const apiEvents = gen.map((g) => eventOf(g, `api-${tag}`, viaApi.agents));
        const importEvents = gen.map((g) => eventOf(g, `imp-${tag}`, viaImport.agents));
        // The import stores batches of `batchRows` lines, each like one POST /api/usage of those events
        // (a line repeating the id of a line refused in an earlier batch is judged on its own, as in a
        // later request); with more rows per batch than events it is one request.
        const ingested = { accepted: 0, duplicates: 0, rejected: [] as { index: number; code: string }[] };
        for (let start = 0; start < apiEvents.length; start += batchRows) {
          const part = await ingest(ctx, apiEvents.slice(start, start + batchRows));
          ingested.accepted += part.accepted;
          ingested.duplicates += part.duplicates;
          ingested.rejected.push(...part.rejected.map((r) => ({ index: r.index + start, code: r.code })));
        }
        const text = csv ? csvOf(importEvents) : importEvents.map((e) => JSON.stringify(e)).join("\n");
        const imported = await importText(withBatch(batchRows), csv ? "csv" : "ndjson", text, chunk);
        // The same counts, and the same rejections at the same places (a CSV's line 1 is its header).
        expect({ accepted: imported.accepted, duplicates: imported.duplicates, rejected: imported.rejected }).toEqual({
          accepted: ingested.accepted,
          duplicates: ingested.duplicates,
          rejected: ingested.rejected.length,
        });
        expect(imported.errors.map((e): [number, string] => [e.line - (csv ? 2 : 1), e.code])).toEqual(ingested.rejected.map((r) => [r.index, r.code]));
        expect(await rollupsOf(viaImport)).toEqual(await rollupsOf(viaApi));
        // Again: nothing more.
        const again = await importText(withBatch(batchRows), csv ? "csv" : "ndjson", text, chunk);
        expect(again.accepted).toBe(0);
        expect(again.duplicates).toBe(ingested.accepted + ingested.duplicates);
        expect(await rollupsOf(viaImport)).toEqual(await rollupsOf(viaApi));
      }),
      { numRuns: 10 },
    );
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  }, 300_000);

  test("property: the same events through ingest, the import and OpenTelemetry spans (attributed on the span or by a later root) give the same rollups", async () => {
    let run = 0;
    // What a span can carry: no cost of its own, no negative counts; a key sent twice is the same span again.
    const spanLike = fc.array(generated.map((g) => ({ ...g, cost: undefined, broken: false })), { minLength: 1, maxLength: 30 }).map((gen) => {
      const firstOf = new Map<number, Generated>();
      return gen.map((g) => firstOf.get(g.key) ?? (firstOf.set(g.key, g), g));
    });
    await fc.assert(
      fc.asyncProperty(spanLike, fc.integer({ min: 1, max: 40 }), fc.boolean(), async (gen, perRequest, viaParent) => {
        const tag = `${process.pid}-${run++}-${Date.now().toString(36)}`;
        const [viaApi, viaImport, viaOtlp] = [await world(), await world(), await world(`otel-${tag}`)];
        const ingested = await ingest(ctx, gen.map((g) => eventOf(g, `api-${tag}`, viaApi.agents)));
        const imported = await importText(ctx, "ndjson", gen.map((g) => JSON.stringify(eventOf(g, `imp-${tag}`, viaImport.agents))).join("\n"));
        expect(imported.accepted).toBe(ingested.accepted);
        // A trace id of its own for this run: 24 hex digits here, 8 for the agent.
        const trace = hex(Number(BigInt.asUintN(48, BigInt(Bun.hash(tag)))), 12) + hex(run, 12);
        const results = [];
        for (const body of otlpRequests(gen, trace, viaOtlp.refs, perRequest, viaParent)) results.push(await usage.ingestOtlp({ ctx, input: { spans: mapSpans(parseJsonRequest(body)) } }));
        expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(ingested.accepted);
        expect(results.at(-1)!.pending).toBe(0);
        const api = await rollupsOf(viaApi);
        expect(await rollupsOf(viaImport)).toEqual(api);
        expect(await rollupsOf(viaOtlp)).toEqual(api);
      }),
      { numRuns: 8 },
    );
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  }, 300_000);

  test("external ids, an unknown agent and a line before the agent existed, across batches of 2", async () => {
    const org = await makeOrg(ctx, { created_at: CREATED });
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: `svc-${process.pid}-${Date.now()}`, created_at: CREATED });
    const p = `svc-${Date.now().toString(36)}`;
    const lines = [
      { id: `${p}-1`, agent_external_id: agent.external_id, model: "gpt-4o", input_tokens: 1, output_tokens: 1, occurred_at: "2025-06-01T00:00:00Z" },
      { id: `${p}-2`, agent_external_id: "nobody-has-this-id", model: "gpt-4o", input_tokens: 1, output_tokens: 1, occurred_at: "2025-06-01T00:00:00Z" },
      { id: `${p}-3`, agent_id: agent.id, model: "gpt-4o", input_tokens: 1, output_tokens: 1, occurred_at: "2025-04-01T00:00:00Z" },
      { id: `${p}-1`, agent_external_id: agent.external_id, model: "gpt-4o", input_tokens: 2, output_tokens: 1, occurred_at: "2025-06-01T00:00:00Z" },
    ];
    const res = await importText(withBatch(2), "ndjson", lines.map((l) => JSON.stringify(l)).join("\n"));
    expect(res).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 3,
      errors: [
        { line: 2, id: `${p}-2`, code: "unknown_agent", message: "agent_external_id: no agent nobody-has-this-id" },
        { line: 3, id: `${p}-3`, code: "before_agent_created", message: "occurred_at: 2025-04-01T00:00:00.000Z is before the agent was created" },
        { line: 4, id: `${p}-1`, code: "id_conflict", message: `id "${p}-1" was already used for an event with different content` },
      ],
    });
  });

  test("ids and models with backslashes, quotes and a literal \\N reach the table verbatim through COPY", async () => {
    const org = await makeOrg(ctx, { created_at: CREATED });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: CREATED });
    const p = `esc-${process.pid}-${Date.now().toString(36)}`;
    const ids = [`${p}\\N`, `${p}-a\\b`, `${p}-"quoted"`, `${p}-é€`];
    const res = await importText(ctx, "ndjson", ids.map((id) => JSON.stringify({ id, agent_id: agent.id, model: "gpt-4o\\x", input_tokens: 1, output_tokens: 1, occurred_at: "2025-06-01T00:00:00Z" })).join("\n"));
    expect(res).toEqual({ accepted: 4, duplicates: 0, rejected: 0, errors: [] });
    const stored = await rows<{ id: string; model: string; provider: string | null }>(database.db, sql`select id, model, provider from usage_events where agent_id = ${agent.id}::uuid order by id`);
    expect(stored.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(stored.every((r) => r.model === "gpt-4o\\x" && r.provider === null)).toBe(true);
  });

  test("a caller without the ingest permission is refused before anything is read", async () => {
    const readOnly = { ...ctxFor(database, readKey()), config: TEST_CONFIG };
    await expect(importText(readOnly, "ndjson", "{}")).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
