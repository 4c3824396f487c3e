import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import * as retention from "../../server/modules/retention/service";
import type { MappedSpan } from "../../server/modules/usage/otlp";
import { dropBefore, retentionStart } from "../../server/modules/usage/retention";
import * as usage from "../../server/modules/usage/service";
import { ctxFor, TEST_CONFIG } from "../support/actors";
import { event, ingest, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { standardLoggingPayload } from "../support/fixtures/litellm";

// usage_events is partitioned by UTC month (docs/decisions.md, "Partitioned usage events"); an id
// stays unique across months through usage_event_ids.
const database = await testDatabase({ max: 10 });
const ctx = ctxFor(database);
const BEFORE = "2024-01-01T00:00:00Z";
const org = await makeOrg(ctx, { billing_rate_per_agent: "10.00", created_at: BEFORE });
const agent = await makeAgent(ctx, { org_id: org.id, external_id: `partitions-${Date.now()}`, created_at: BEFORE });

const stored = async (ids: string[]) => {
  const list = JSON.stringify(ids);
  const [r] = await rows<{ events: string; ids: string }>(
    database.db,
    sql`select (select count(*) from usage_events where id in (select jsonb_array_elements_text(${list}::jsonb)))::text as events,
               (select count(*) from usage_event_ids where id in (select jsonb_array_elements_text(${list}::jsonb)))::text as ids`,
  );
  return { events: Number(r!.events), ids: Number(r!.ids) };
};

describe("an event id is unique across monthly partitions", () => {
  test("the same id re-sent is a duplicate; re-used with another month's occurred_at it is an id conflict, stored nowhere", async () => {
    const e = event(agent.id, { occurred_at: "2025-03-10T10:00:00Z" });
    expect(await ingest(ctx, [e])).toMatchObject({ accepted: 1, duplicates: 0, rejected: [] });
    expect(await ingest(ctx, [e])).toMatchObject({ accepted: 0, duplicates: 1, rejected: [] });
    const moved = { ...e, occurred_at: "2025-04-10T10:00:00Z" };
    const res = await ingest(ctx, [moved]);
    expect(res.accepted).toBe(0);
    expect(res.rejected).toEqual([{ index: 0, id: e.id, code: "id_conflict", message: expect.stringContaining("different content") }]);
    const [row] = await rows<{ n: string; at: string }>(database.db, sql`select count(*)::text as n, min(occurred_at)::text as at from usage_events where id = ${e.id}`);
    expect(row!.n).toBe("1");
    expect(new Date(row!.at).toISOString()).toBe("2025-03-10T10:00:00.000Z");
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  });

  test("concurrent identical batches store each event once, across several months", async () => {
    const batch = Array.from({ length: 60 }, (_, k) => event(agent.id, { occurred_at: `2025-0${5 + (k % 3)}-0${1 + (k % 9)}T08:00:00Z` }));
    const results = await Promise.all([1, 2, 3, 4].map(() => ingest(ctx, batch)));
    expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(60);
    expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(180);
    expect(results.every((r) => r.rejected.length === 0)).toBe(true);
    expect(await stored(batch.map((e) => e.id))).toEqual({ events: 60, ids: 60 });
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  });

  test("concurrent batches re-using one id with different months: exactly one is stored, the other is an id conflict", async () => {
    for (let round = 0; round < 5; round++) {
      const a = event(agent.id, { occurred_at: "2025-08-15T00:00:00Z" });
      const b = { ...a, occurred_at: "2025-09-15T00:00:00Z" };
      const [ra, rb] = await Promise.all([ingest(ctx, [a]), ingest(ctx, [b])]);
      expect(ra.accepted + rb.accepted).toBe(1);
      expect([...ra.rejected, ...rb.rejected].map((r) => r.code)).toEqual(["id_conflict"]);
      expect(await stored([a.id])).toEqual({ events: 1, ids: 1 });
    }
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
  });
});

describe("partitions", () => {
  test("a batch for a month without a partition is stored: the partition is created on the way", async () => {
    const before = (await retention.listPartitions(database.db)).map((p) => p.month);
    expect(before).not.toContain("2024-02-01");
    const e = event(agent.id, { occurred_at: "2024-02-29T23:59:59.999Z" });
    expect(await ingest(ctx, [e])).toMatchObject({ accepted: 1, rejected: [] });
    const after = await retention.listPartitions(database.db);
    expect(after.map((p) => p.month)).toContain("2024-02-01");
    const [row] = await rows<{ part: string }>(database.db, sql`select tableoid::regclass::text as part from usage_events where id = ${e.id}`);
    expect(row!.part).toBe("usage_events_p202402");
  });

  test("concurrent batches meeting the same missing month both succeed and create it once", async () => {
    const batches = [0, 1, 2].map(() => [event(agent.id, { occurred_at: "2024-03-03T03:00:00Z" }), event(agent.id, { occurred_at: "2024-04-04T04:00:00Z" })]);
    const results = await Promise.all(batches.map((b) => ingest(ctx, b)));
    expect(results.map((r) => r.accepted)).toEqual([2, 2, 2]);
    const months = (await retention.listPartitions(database.db)).map((p) => p.month);
    expect(months.filter((m) => m === "2024-03-01" || m === "2024-04-01")).toEqual(["2024-03-01", "2024-04-01"]);
  });

  test("OpenTelemetry spans of a month without a partition are billed too (the partition is created inside the request's transaction)", async () => {
    const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
    const traceId = hex(16);
    const spanId = hex(8);
    expect((await retention.listPartitions(database.db)).map((p) => p.month)).not.toContain("2024-07-01");
    const event = { id: `otel:${traceId}:${spanId}`, model: "gpt-4o", provider: null, occurred_at: "2024-07-07T07:07:07Z", input_tokens: 10, output_tokens: 5, cache_read_tokens: 0, cache_write_tokens: 0 };
    const span: MappedSpan = { traceId, spanId, parentSpanId: "", agentRef: agent.external_id!, resourceAgentRef: null, event };
    expect(await usage.ingestOtlp({ ctx, input: { spans: [span] } })).toMatchObject({ accepted: 1, rejectedSpans: 0 });
    expect(await stored([event.id])).toEqual({ events: 1, ids: 1 });
    const [spans] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from otel_spans where trace_id = ${traceId}`);
    expect(spans!.n).toBe("1");
  });

  test("the periodic job creates the current month and the next two, once", async () => {
    const now = new Date("2031-11-20T12:00:00Z");
    const system = ctxFor(database, { kind: "anonymous" });
    expect(await retention.createAhead(system, now)).toEqual(["2031-11-01", "2031-12-01", "2032-01-01"]);
    expect(await retention.createAhead(system, now)).toEqual([]);
    const [bounds] = await rows<{ bound: string }>(
      database.db,
      sql`select pg_get_expr(c.relpartbound, c.oid) as bound from pg_class c where c.relname = 'usage_events_p203112'`,
    );
    // UTC month boundaries whatever the session's time zone.
    expect(bounds!.bound.replace(/\+00(:00)?/g, "+00")).toMatch(/FROM \('2031-12-01 00:00:00\+00'\) TO \('2032-01-01 00:00:00\+00'\)/);
  });
});

describe("events older than the retention window", () => {
  const retained = { ...ctx, config: { ...TEST_CONFIG, usageRetentionMonths: 3 } };
  const start = retentionStart(3, new Date())!;
  const tooOld = new Date(start.getTime() - 1).toISOString();

  test("the window starts on the first day of the month N months back; partitions are dropped a day later", () => {
    expect(retentionStart(null, new Date())).toBeNull();
    expect(retentionStart(3, new Date("2026-12-02T05:00:00Z"))!.toISOString()).toBe("2026-09-01T00:00:00.000Z");
    expect(retentionStart(1, new Date("2026-01-31T23:59:59Z"))!.toISOString()).toBe("2025-12-01T00:00:00.000Z");
    expect(dropBefore(3, new Date("2026-12-02T05:00:00Z"))!.toISOString()).toBe("2026-09-01T00:00:00.000Z");
    expect(dropBefore(3, new Date("2026-12-01T05:00:00Z"))!.toISOString()).toBe("2026-08-01T00:00:00.000Z");
  });

  test("POST-style ingestion refuses them with outside_retention and stores nothing; the window's first instant is accepted", async () => {
    const old = event(agent.id, { occurred_at: tooOld });
    const edge = event(agent.id, { occurred_at: start.toISOString() });
    const res = await ingest(retained, [old, edge]);
    expect(res.accepted).toBe(1);
    expect(res.rejected).toEqual([{ index: 0, id: old.id, code: "outside_retention", message: expect.stringContaining("retention window") }]);
    expect(await stored([old.id])).toEqual({ events: 0, ids: 0 });
    expect(await stored([edge.id])).toEqual({ events: 1, ids: 1 });
  });

  test("LiteLLM payloads that old are refused the same way", async () => {
    const payload = standardLoggingPayload({ id: `old-${Date.now()}`, alias: agent.external_id!, endTime: start.getTime() / 1000 - 60 });
    const res = await usage.ingestLitellm({ ctx: retained, input: { body: JSON.stringify([payload]) } });
    expect(res).toMatchObject({ accepted: 0, skipped: 0 });
    expect(res.rejected.map((r) => [r.index, r.code])).toEqual([[0, "outside_retention"]]);
    expect(await stored([`litellm:${payload.id}`])).toEqual({ events: 0, ids: 0 });
  });

  test("OpenTelemetry spans that old are rejected spans, billed nowhere", async () => {
    const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
    const traceId = hex(16);
    const spanId = hex(8);
    const span: MappedSpan = {
      traceId,
      spanId,
      parentSpanId: "",
      agentRef: agent.external_id!,
      resourceAgentRef: null,
      event: { id: `otel:${traceId}:${spanId}`, model: "gpt-4o", provider: null, occurred_at: tooOld, input_tokens: 10, output_tokens: 5, cache_read_tokens: 0, cache_write_tokens: 0 },
    };
    const res = await usage.ingestOtlp({ ctx: retained, input: { spans: [span] } });
    expect(res).toMatchObject({ accepted: 0, rejectedSpans: 1 });
    expect(res.errorMessage).toContain("retention window");
    expect(await stored([`otel:${traceId}:${spanId}`])).toEqual({ events: 0, ids: 0 });
  });

  test("without USAGE_RETENTION_MONTHS nothing is too old", async () => {
    const old = event(agent.id, { occurred_at: "2024-05-05T05:05:05Z" });
    expect(await ingest(ctx, [old])).toMatchObject({ accepted: 1, rejected: [] });
  });
});
