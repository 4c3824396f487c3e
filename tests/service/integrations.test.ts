import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { setLogSink } from "../../server/observability/log";
import * as integrations from "../../server/modules/integrations/service";
import type { MappedSpan } from "../../server/modules/usage/otlp";
import * as usage from "../../server/modules/usage/service";
import { ctxFor, user } from "../support/actors";
import { event, ingest, moveAgent, putPrice } from "../support/billing";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

const database = await testDatabase({ max: 8 });
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const MODEL = "attr-model";
// USD per 1M tokens: 2.00 input, 8.00 output.
await putPrice(ctx, { model: MODEL, effective_from: "2025-01-01", input_per_m: "2.00", output_per_m: "8.00" });
const org = await makeOrg(ctx, { created_at: BEFORE });
const other = await makeOrg(ctx, { created_at: BEFORE });
const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE, external_id: "integrations-agent" });

const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
const sourceOf = async (source: string) => (await integrations.overview({ ctx })).sources.find((s) => s.source === source)!;

/** A billable chat span whose parent has not arrived (it waits), ended at `at`. */
function orphanChat(traceId: string, at: string, tokens = { input: 1000, output: 100 }): MappedSpan {
  const spanId = hex(8);
  return {
    traceId,
    spanId,
    parentSpanId: hex(8),
    agentRef: null,
    resourceAgentRef: null,
    event: { id: `otel:${traceId}:${spanId}`, model: MODEL, provider: "openai", occurred_at: at, input_tokens: tokens.input, output_tokens: tokens.output, cache_read_tokens: 0, cache_write_tokens: 0 },
  };
}
/** Makes the trace's waiting spans older than the attribution window: they count as unattributed. */
const ageWaiting = (traceId: string) => database.db.execute(sql`update otel_pending_spans set received_at = now() - interval '31 minutes' where trace_id = ${traceId}`);
const waitingOf = async (traceId: string) =>
  Number((await rows<{ n: string }>(database.db, sql`select count(*)::text as n from otel_pending_spans where trace_id = ${traceId}`))[0]!.n);
const eventsOf = (agentId: string) =>
  rows<{ id: string; org_id: string; cost: string | null }>(database.db, sql`select id, org_id::text, cost_usd::numeric(20, 6)::text as cost from usage_events where agent_id = ${agentId}::uuid order by id`);

describe("ingestion statistics", () => {
  test("each ingestion adds its accepted, duplicate and rejected counts to its source and marks it received", async () => {
    const before = await sourceOf("api");
    const e = event(agent.id, { occurred_at: "2025-06-01T10:00:00Z" });
    await ingest(ctx, [e, event(agent.id, { occurred_at: "2025-06-01T10:00:00Z" }), { id: "bad", agent_id: agent.id }]);
    await ingest(ctx, [e]);
    const after = await sourceOf("api");
    expect({ accepted: after.accepted - before.accepted, duplicates: after.duplicates - before.duplicates, rejected: after.rejected - before.rejected }).toEqual({
      accepted: 2,
      duplicates: 1,
      rejected: 1,
    });
    expect(Date.now() - Date.parse(after.last_received_at!)).toBeLessThan(60_000);
  });

  test("OpenTelemetry exports count their spans under otlp: billed, duplicates and rejected; waiting spans are not counted yet", async () => {
    const before = await sourceOf("otlp");
    const traceId = hex(16);
    const named: MappedSpan = { ...orphanChat(traceId, new Date().toISOString()), agentRef: agent.external_id! };
    const unknown: MappedSpan = { ...orphanChat(traceId, new Date().toISOString()), agentRef: "nobody-has-this-id" };
    const waiting = orphanChat(traceId, new Date().toISOString());
    await usage.ingestOtlp({ ctx, input: { spans: [named, unknown, waiting] } });
    await usage.ingestOtlp({ ctx, input: { spans: [named] } });
    const after = await sourceOf("otlp");
    expect({ accepted: after.accepted - before.accepted, duplicates: after.duplicates - before.duplicates, rejected: after.rejected - before.rejected }).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: 1,
    });
    expect(after.last_received_at).not.toBeNull();
  });

  test("LiteLLM callbacks count under litellm, not api", async () => {
    const api = await sourceOf("api");
    const before = await sourceOf("litellm");
    const payload = {
      id: `ll-${hex(6)}`,
      status: "success",
      model: MODEL,
      custom_llm_provider: "openai",
      prompt_tokens: 10,
      completion_tokens: 5,
      endTime: Date.now() / 1000,
      metadata: { user_api_key_alias: agent.external_id },
    };
    await usage.ingestLitellm({ ctx, input: { body: JSON.stringify([payload]) } });
    expect((await sourceOf("litellm")).accepted - before.accepted).toBe(1);
    expect(await sourceOf("api")).toEqual(api);
  });

  test("counts of hours before the last 24 are not shown, and pruning keeps each source's newest hour", async () => {
    const now = await sourceOf("import");
    expect(now).toEqual({ source: "import", last_received_at: null, accepted: 0, duplicates: 0, rejected: 0 });
    await database.db.execute(sql`insert into ingestion_stats (source, hour, shard, accepted, duplicates, rejected, last_received_at)
      values ('import', date_trunc('hour', now()) - interval '30 hours', 0, 7, 1, 2, now() - interval '30 hours'),
             ('import', date_trunc('hour', now()) - interval '72 hours', 0, 5, 0, 0, now() - interval '72 hours'),
             ('import', date_trunc('hour', now()) - interval '96 hours', 3, 5, 0, 0, now() - interval '96 hours')`);
    const old = await sourceOf("import");
    expect({ ...old, last_received_at: null }).toEqual({ source: "import", last_received_at: null, accepted: 0, duplicates: 0, rejected: 0 });
    expect(Date.now() - Date.parse(old.last_received_at!)).toBeGreaterThan(29 * 3600_000);
    await usage.recordIngestion(database.db, "import", { accepted: 3, duplicates: 0, rejected: 1 });
    expect(await sourceOf("import")).toMatchObject({ accepted: 3, duplicates: 0, rejected: 1 });
    expect(await integrations.pruneStats(database.db)).toBeGreaterThanOrEqual(2);
    const left = await rows<{ age: string }>(database.db, sql`select (extract(epoch from now() - hour) / 3600)::int::text as age from ingestion_stats where source = 'import' order by hour`);
    expect(left.map((r) => Number(r.age))).toEqual([30, 0].map((h) => h + Number(left.at(-1)!.age)));
    // A source silent for days keeps its last reception time.
    await database.db.execute(sql`delete from ingestion_stats where source = 'import' and hour > now() - interval '1 hour'`);
    await database.db.execute(sql`update ingestion_stats set hour = hour - interval '10 days', last_received_at = last_received_at - interval '10 days' where source = 'import'`);
    await integrations.pruneStats(database.db);
    const silent = await sourceOf("import");
    expect(silent.last_received_at).not.toBeNull();
    expect(silent.accepted).toBe(0);
  });

  test("statistics that cannot be written after a batch committed lose their counts only, never the batch's answer", async () => {
    // A fault in the database itself (no code of ours replaced): every write to the statistics fails.
    await database.db.execute(sql`create function fail_ingestion_stats() returns trigger language plpgsql as $$ begin raise exception 'statistics unavailable'; end $$`);
    await database.db.execute(sql`create trigger fail_ingestion_stats before insert or update on ingestion_stats for each row execute function fail_ingestion_stats()`);
    const lines: string[] = [];
    const previous = setLogSink((line) => lines.push(line));
    try {
      const before = await sourceOf("api");
      const sent = event(agent.id, { occurred_at: "2025-07-02T10:00:00Z" });
      const result = await ingest(ctx, [sent]);
      expect(result).toMatchObject({ accepted: 1, duplicates: 0, rejected: [] });
      const stored = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events where id = ${sent.id as string}`);
      expect(stored[0]!.n).toBe("1");
      expect(await sourceOf("api")).toMatchObject({ accepted: before.accepted, rejected: before.rejected });
      const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "ingestion statistics not recorded");
      expect(warning).toMatchObject({ level: "warn", source: "api", accepted: 1, duplicates: 0, rejected: 0, error: "statistics unavailable" });
    } finally {
      setLogSink(previous);
      await database.db.execute(sql`drop trigger fail_ingestion_stats on ingestion_stats`);
      await database.db.execute(sql`drop function fail_ingestion_stats()`);
    }
  });

  test.skipIf(TEST_DB_KIND === "pglite")("concurrent batches of one source lose no count and never deadlock", async () => {
    const before = await sourceOf("api");
    const batches = Array.from({ length: 24 }, (_, b) =>
      ingest(ctxFor(database), [
        ...Array.from({ length: 5 }, () => event(agent.id, { occurred_at: "2025-07-01T10:00:00Z" })),
        { id: `invalid-${b}`, agent_id: agent.id },
      ]),
    );
    await Promise.all(batches);
    const after = await sourceOf("api");
    expect({ accepted: after.accepted - before.accepted, rejected: after.rejected - before.rejected }).toEqual({ accepted: 120, rejected: 24 });
  });

  test("organization-bound principals may not read the overview", async () => {
    await expect(integrations.overview({ ctx: ctxFor(database, user("owner", org.id)) })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

describe("unattributed spans", () => {
  test("appear in the overview with their trace after 30 minutes of waiting", async () => {
    const traceId = hex(16);
    await usage.ingestOtlp({ ctx, input: { spans: [orphanChat(traceId, new Date().toISOString()), orphanChat(traceId, new Date().toISOString(), { input: 5, output: 1 })] } });
    const fresh = await integrations.overview({ ctx });
    expect(fresh.unattributed.traces.find((t) => t.trace_id === traceId)).toBeUndefined();
    await ageWaiting(traceId);
    const aged = await integrations.overview({ ctx });
    expect(aged.unattributed.traces.find((t) => t.trace_id === traceId)).toMatchObject({ spans: 2, models: [MODEL], input_tokens: 1005, output_tokens: 101 });
    expect(aged.unattributed.spans).toBe(fresh.unattributed.spans + 2);
    expect(aged.unattributed.spans).toBe(await usage.unattributedSpans({ ctx }));
  });

  test("attributing a trace bills its spans to the agent's organization at the span's time, priced, and stops their waiting; audited", async () => {
    const mover = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    await moveAgent(ctx, mover.id, other.id, "2025-08-01T00:00:00Z");
    const traceId = hex(16);
    const inJuly = orphanChat(traceId, "2025-07-15T12:00:00Z", { input: 1000, output: 1000 });
    const inAugust = orphanChat(traceId, "2025-08-15T12:00:00Z", { input: 500, output: 0 });
    await usage.ingestOtlp({ ctx, input: { spans: [inJuly, inAugust] } });
    await ageWaiting(traceId);
    const result = await integrations.attributeSpans({ ctx, input: { trace_id: traceId, agent_id: mover.id } });
    expect(result).toEqual({ trace_id: traceId, agent_id: mover.id, accepted: 2, duplicates: 0, rejected: [], remaining: 0 });
    expect(await eventsOf(mover.id)).toEqual(
      [
        { id: inJuly.event!.id, org_id: org.id, cost: "0.010000" },
        { id: inAugust.event!.id, org_id: other.id, cost: "0.001000" },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    expect(await waitingOf(traceId)).toBe(0);
    const [entry] = await rows<{ action: string; target_id: string; after: { agent_id: string; span_ids: string[] } }>(
      database.db,
      sql`select action, target_id, after from audit_log where action = 'usage.attribute' and target_id = ${traceId}`,
    );
    expect(entry!.after.agent_id).toBe(mover.id);
    expect(entry!.after.span_ids.sort()).toEqual([inJuly.spanId, inAugust.spanId].sort());
    // Nothing left to attribute; an ancestor arriving now bills nothing twice.
    await expect(integrations.attributeSpans({ ctx, input: { trace_id: traceId, agent_id: mover.id } })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  test("selected spans only; a span the ingestion refuses keeps waiting and is reported", async () => {
    const late = await makeAgent(ctx, { org_id: org.id, created_at: "2025-09-01T00:00:00Z" });
    const traceId = hex(16);
    const tooEarly = orphanChat(traceId, "2025-08-15T12:00:00Z");
    const fine = orphanChat(traceId, "2025-09-15T12:00:00Z");
    const untouched = orphanChat(traceId, "2025-09-16T12:00:00Z");
    await usage.ingestOtlp({ ctx, input: { spans: [tooEarly, fine, untouched] } });
    await ageWaiting(traceId);
    const result = await integrations.attributeSpans({ ctx, input: { trace_id: traceId, span_ids: [tooEarly.spanId, fine.spanId], agent_id: late.id } });
    expect(result).toMatchObject({ accepted: 1, duplicates: 0, remaining: 2, rejected: [{ span_id: tooEarly.spanId, code: "before_agent_created" }] });
    expect((await eventsOf(late.id)).map((e) => e.id)).toEqual([fine.event!.id]);
    expect(await waitingOf(traceId)).toBe(2);
  });

  test("refuses an unknown agent by field, a span that is not unattributed, and organization-bound callers; nothing changes", async () => {
    const traceId = hex(16);
    const waiting = orphanChat(traceId, new Date().toISOString());
    await usage.ingestOtlp({ ctx, input: { spans: [waiting] } });
    // Still inside the attribution window: its ancestor may yet come.
    await expect(integrations.attributeSpans({ ctx, input: { trace_id: traceId, agent_id: agent.id } })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await ageWaiting(traceId);
    await expect(integrations.attributeSpans({ ctx, input: { trace_id: traceId, agent_id: crypto.randomUUID() } })).rejects.toMatchObject({
      code: "VALIDATION",
      errors: [{ path: "agent_id", message: expect.stringContaining("no agent") }],
    });
    await expect(integrations.attributeSpans({ ctx, input: { trace_id: traceId, span_ids: [hex(8)], agent_id: agent.id } })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(integrations.attributeSpans({ ctx: ctxFor(database, user("owner", org.id)), input: { trace_id: traceId, agent_id: agent.id } })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(integrations.attributeSpans({ ctx: ctxFor(database, user("member")), input: { trace_id: traceId, agent_id: agent.id } })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await waitingOf(traceId)).toBe(1);
  });
});

describe("attribution racing a late ancestor", () => {
  test.skipIf(TEST_DB_KIND === "pglite")("staff attributing a trace while its ancestor arrives bill each span once, to one of the two agents", async () => {
    const staffPick = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    for (let round = 0; round < 6; round++) {
      const traceId = hex(16);
      const child = orphanChat(traceId, new Date().toISOString());
      await usage.ingestOtlp({ ctx, input: { spans: [child] } });
      await ageWaiting(traceId);
      const ancestor: MappedSpan = { traceId, spanId: child.parentSpanId, parentSpanId: "", agentRef: agent.external_id!, resourceAgentRef: null, event: null };
      const [attributed, exported] = await Promise.allSettled([
        integrations.attributeSpans({ ctx: ctxFor(database), input: { trace_id: traceId, agent_id: staffPick.id } }),
        usage.ingestOtlp({ ctx: ctxFor(database), input: { spans: [ancestor] } }),
      ]);
      expect(exported.status).toBe("fulfilled");
      if (attributed.status === "rejected") expect(attributed.reason).toMatchObject({ code: "NOT_FOUND" });
      const billed = await rows<{ agent_id: string }>(database.db, sql`select agent_id::text from usage_events where id = ${child.event!.id}`);
      expect(billed).toHaveLength(1);
      expect(billed[0]!.agent_id).toBe(attributed.status === "fulfilled" ? staffPick.id : agent.id);
      expect(await waitingOf(traceId)).toBe(0);
    }
  });
});

describe("pruning remembered spans", () => {
  const spansOf = async (traceId: string) => Number((await rows<{ n: string }>(database.db, sql`select count(*)::text as n from otel_spans where trace_id = ${traceId}`))[0]!.n);
  const age = (traceId: string, hours: number) => database.db.execute(sql`update otel_spans set received_at = now() - make_interval(hours => ${hours}) where trace_id = ${traceId}`);

  test("deletes finished traces, keeps recent ones and those with a waiting span, whose late ancestor still bills it", async () => {
    const finished = hex(16);
    const recent = hex(16);
    const waitingTrace = hex(16);
    const parent = (traceId: string, spanId: string): MappedSpan => ({ traceId, spanId, parentSpanId: "", agentRef: agent.external_id!, resourceAgentRef: null, event: null });
    await usage.ingestOtlp({ ctx, input: { spans: [{ ...orphanChat(finished, new Date().toISOString()), agentRef: agent.external_id! }, parent(finished, hex(8))] } });
    await usage.ingestOtlp({ ctx, input: { spans: [parent(recent, hex(8))] } });
    const child = orphanChat(waitingTrace, new Date().toISOString());
    await usage.ingestOtlp({ ctx, input: { spans: [child] } });
    await age(finished, 25);
    await age(waitingTrace, 48);
    // A trace with one recent span is kept whole: a late child may still walk up through its old spans.
    const mixed = hex(16);
    await usage.ingestOtlp({ ctx, input: { spans: [parent(mixed, hex(8))] } });
    await age(mixed, 30);
    await usage.ingestOtlp({ ctx, input: { spans: [{ ...parent(mixed, hex(8)), parentSpanId: hex(8), agentRef: null }] } });

    expect(await integrations.pruneOtelSpans(database.db)).toBeGreaterThanOrEqual(2);
    expect({ finished: await spansOf(finished), recent: await spansOf(recent), waiting: await spansOf(waitingTrace), mixed: await spansOf(mixed) }).toEqual({
      finished: 0,
      recent: 1,
      waiting: 1,
      mixed: 2,
    });
    // The waiting child's ancestor arrives two days later: the chain is intact, the child bills.
    await usage.ingestOtlp({ ctx, input: { spans: [parent(waitingTrace, child.parentSpanId)] } });
    expect((await eventsOf(agent.id)).map((e) => e.id)).toContain(child.event!.id);
    expect(await waitingOf(waitingTrace)).toBe(0);
    // Now finished too, once old enough.
    await age(waitingTrace, 25);
    await integrations.pruneOtelSpans(database.db);
    expect(await spansOf(waitingTrace)).toBe(0);
  });
});
