import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import * as invoices from "../../server/modules/invoices/service";
import { makeKey } from "../support/access";
import { ctxFor } from "../support/actors";
import { putPrice, totals } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { ADMIN_KEY, startTestServer } from "../support/http";

/** POST /api/usage/import (docs/integrations.md, "Bulk import"), over HTTP against PostgreSQL. */
const database = await testDatabase();
const { base, api } = startTestServer(database);
// A second server over the same database, with batches of 100 rows: several batches in a small file.
const small = startTestServer(database, { importBatchRows: 100 });
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const org = await makeOrg(ctx, { created_at: BEFORE });
const other = await makeOrg(ctx, { created_at: BEFORE });
await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-01-01", input_per_m: "2.50", output_per_m: "10.00" });
// A receiver of the unpriced-model notice, so that the import's notices are written (none is delivered: no job runner here).
expect((await api.post("/api/webhooks", { url: "https://hooks.example.com/import", event_types: ["usage.unpriced_model"] })).status).toBe(201);
let n = 0;
const uid = (label: string) => `${label}-${process.pid}-${Date.now().toString(36)}-${n++}`;

const HEADER = "id,agent_id,agent_external_id,model,provider,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,occurred_at";

async function upload(body: BodyInit, type = "text/csv", options: { key?: string; base?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}) {
  const res = await fetch(`${options.base ?? base}/api/usage/import`, {
    method: "POST",
    headers: { "content-type": type, "x-api-key": options.key ?? ADMIN_KEY, ...options.headers },
    body,
    signal: options.signal,
    // A ReadableStream body is sent as it is produced.
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), body: text ? (JSON.parse(text) as any) : null };
}

const count = async (sqlText: ReturnType<typeof sql>) => Number((await rows<{ n: string }>(database.db, sqlText))[0]!.n);
const storedWithPrefix = (prefix: string) => count(sql`select count(*)::text as n from usage_events where id like ${prefix + "%"}`);
const stored = (prefix: string) =>
  rows<{ id: string; agent_id: string; org_id: string; model: string; provider: string | null; input_tokens: string; output_tokens: string; cache_read_tokens: string; cost_usd: string | null; occurred_at: string }>(
    database.db,
    sql`select id, agent_id::text, org_id::text, model, provider, input_tokens::text, output_tokens::text, cache_read_tokens::text, cost_usd::text,
               to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as occurred_at
        from usage_events where id like ${prefix + "%"} order by id`,
  );
/** Everything an import may change, for "nothing changed" checks. */
const snapshot = async () => ({
  events: await count(sql`select count(*)::text as n from usage_events`),
  rollups: await rows(database.db, sql`select org_id::text, agent_id::text, model, month::text, events::text, unpriced_events::text, input_tokens::text, cost_usd::text from usage_month_totals order by 1, 2, 3, 4`),
  audit: await count(sql`select count(*)::text as n from audit_log`),
  webhookEvents: await count(sql`select count(*)::text as n from webhook_events`),
  jobs: await count(sql`select count(*)::text as n from jobs`),
});

describe("bulk usage import", () => {
  test("a CSV file: every row stored with the rules of POST /api/usage (attribution, pricing, external ids, rollups)", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("runtime"), created_at: BEFORE });
    const p = uid("csv");
    const file = [
      HEADER,
      `${p}-1,${agent.id},,gpt-4o,openai,1000,500,,,,2025-06-01T10:00:00Z`,
      // By external id, quoted fields, its own cost, a CRLF line end.
      `"${p}-2",,"${agent.external_id}",GPT-4o,,200,100,50,,0.5,2025-06-02T10:00:00Z\r`,
      // A model without a price: stored unpriced.
      `${p}-3,${agent.id},,no-price-model,,10,10,,,,2025-07-01T00:00:00Z`,
      "",
    ].join("\n");
    const res = await upload(file);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: 3, duplicates: 0, rejected: 0, errors: [] });
    const rowsStored = await stored(p);
    expect(rowsStored.map((r) => [r.id, r.agent_id, r.org_id, r.model, r.provider, r.input_tokens, r.output_tokens, r.cache_read_tokens, r.occurred_at])).toEqual([
      [`${p}-1`, agent.id, org.id, "gpt-4o", "openai", "1000", "500", "0", "2025-06-01T10:00:00Z"],
      [`${p}-2`, agent.id, org.id, "gpt-4o", null, "200", "100", "50", "2025-06-02T10:00:00Z"],
      [`${p}-3`, agent.id, org.id, "no-price-model", null, "10", "10", "0", "2025-07-01T00:00:00Z"],
    ]);
    // 1000 × 2.50 + 500 × 10.00 per 1M = 0.0075; the second carried its own cost; the third has no price.
    expect(rowsStored.map((r) => (r.cost_usd === null ? null : Number(r.cost_usd)))).toEqual([0.0075, 0.5, null]);
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
    // One audit entry per stored batch, naming the import.
    const [entry] = await rows<{ action: string; after: any }>(database.db, sql`select action, after from audit_log where action = 'usage.import' order by at desc, id desc limit 1`);
    expect(entry).toEqual({ action: "usage.import", after: { accepted: 3, unpriced: 1 } });
    // The unpriced model's notice, as for any ingestion: once for the model and day.
    const notices = await rows<{ body: string }>(database.db, sql`select body::text from webhook_events where type = 'usage.unpriced_model' and body::text like ${`%${p}-3%`}`);
    expect(notices).toHaveLength(1);
  });

  test("an NDJSON file: one Event per line, the same answer; running the same file again changes nothing", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const p = uid("nd");
    const events = Array.from({ length: 250 }, (_, i) => ({ id: `${p}-${String(i).padStart(3, "0")}`, agent_id: agent.id, model: i % 2 ? "gpt-4o" : uid("unpriced"), input_tokens: i, output_tokens: 2 * i, occurred_at: `2025-06-${String(1 + (i % 28)).padStart(2, "0")}T00:00:00Z` }));
    const file = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
    const first = await upload(file, "application/x-ndjson", { base: small.base });
    expect(first.body).toEqual({ accepted: 250, duplicates: 0, rejected: 0, errors: [] });
    expect(await storedWithPrefix(p)).toBe(250);
    const before = await snapshot();
    const again = await upload(file, "application/x-ndjson", { base: small.base });
    expect(again.body).toEqual({ accepted: 0, duplicates: 250, rejected: 0, errors: [] });
    // No event, rollup, audit entry, webhook event (no second unpriced notice) or job (no budget evaluation) more.
    expect(await snapshot()).toEqual(before);
    // The same events through POST /api/usage are duplicates too: one idempotency for every source.
    expect((await api.post("/api/usage", { events: events.slice(0, 3) })).body).toMatchObject({ accepted: 0, duplicates: 3 });
  });

  test("a broken line in the middle is rejected by its line number; the valid lines are stored; fixed, a re-run adds only it", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const p = uid("broken");
    const line = (i: number, tokens = "10") => `${p}-${i},${agent.id},,gpt-4o,,${tokens},5,,,,2025-06-10T00:00:00Z`;
    const lines = [HEADER, line(1), line(2), `${p}-3,"${agent.id},,gpt-4o,,10,5,,,,2025-06-10T00:00:00Z`, line(4, "-1"), `${p}-5,${agent.id},gpt-4o`, line(6), `{"not": "csv"}`, line(8)];
    const res = await upload(lines.join("\n"));
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(4);
    expect(res.body.rejected).toBe(4);
    expect(res.body.errors).toEqual([
      { line: 4, id: null, code: "invalid", message: "the line's CSV quoting is broken" },
      { line: 5, id: `${p}-4`, code: "invalid", message: "input_tokens: must not be negative" },
      { line: 6, id: `${p}-5`, code: "invalid", message: "the line has 3 fields; the header names 11" },
      { line: 8, id: null, code: "invalid", message: "the line's CSV quoting is broken" },
    ]);
    expect((await stored(p)).map((r) => r.id)).toEqual([1, 2, 6, 8].map((i) => `${p}-${i}`));
    const fixed = [...lines];
    fixed[3] = line(3);
    const rerun = await upload(fixed.join("\n"));
    expect(rerun.body).toMatchObject({ accepted: 1, duplicates: 4, rejected: 3 });
    expect((await stored(p)).map((r) => r.id)).toEqual([1, 2, 3, 6, 8].map((i) => `${p}-${i}`));
  });

  test("a client that hangs up mid-stream leaves only whole batches stored; running the file again completes it", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const p = uid("hangup");
    const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ id: `${p}-${String(i).padStart(3, "0")}`, agent_id: agent.id, model: "gpt-4o", input_tokens: 1, output_tokens: 1, occurred_at: "2025-06-15T00:00:00Z" }) + "\n");
    const abort = new AbortController();
    let sent = 0;
    // Sends 350 lines (three batches of 100 and half of the fourth), then waits to be aborted.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent < 350) {
          controller.enqueue(new TextEncoder().encode(lines.slice(sent, sent + 50).join("")));
          sent += 50;
        } else await new Promise(() => {});
      },
    });
    const answer = upload(body, "application/x-ndjson", { base: small.base, signal: abort.signal }).catch((e: unknown) => e);
    for (let waited = 0; (await storedWithPrefix(p)) < 300; waited++) {
      if (waited > 600) throw new Error("the first three batches were not stored");
      await Bun.sleep(50);
    }
    expect(small.server.pendingRequests).toBe(1);
    abort.abort();
    expect(await answer).toBeInstanceOf(Error);
    // The server notices the hang-up and ends the request (no handler left waiting on the body);
    // the fourth batch was never complete, so nothing of it is stored.
    for (let waited = 0; small.server.pendingRequests > 0; waited++) {
      if (waited > 600) throw new Error("the import's request never ended after the client hung up");
      await Bun.sleep(50);
    }
    expect(await storedWithPrefix(p)).toBe(300);
    const t = await totals(database);
    expect(t.rolled).toEqual(t.raw);
    const rerun = await upload(lines.join(""), "application/x-ndjson", { base: small.base });
    expect(rerun.body).toEqual({ accepted: 100, duplicates: 300, rejected: 0, errors: [] });
    expect(await storedWithPrefix(p)).toBe(400);
  });

  test("rows in a closed month are stored as POST /api/usage stores them: late usage is accepted and the finalized invoice stays as issued", async () => {
    const closed = await makeOrg(ctx, { billing_rate_per_agent: "100.00", created_at: BEFORE });
    const agent = await makeAgent(ctx, { org_id: closed.id, created_at: BEFORE });
    const inv = await invoices.finalize({ ctx, input: { id: closed.id, month: "2025-06" } });
    const p = uid("closed");
    const res = await upload([HEADER, `${p}-1,${agent.id},,gpt-4o,,1000,1000,,,,2025-06-20T00:00:00Z`, `${p}-2,${agent.id},,gpt-4o,,1000,1000,,,,2025-06-21T00:00:00Z`].join("\n"));
    const viaApi = await api.post("/api/usage", { id: `${p}-3`, agent_id: agent.id, model: "gpt-4o", input_tokens: 1000, output_tokens: 1000, occurred_at: "2025-06-22T00:00:00Z" });
    expect(res.body).toEqual({ accepted: 2, duplicates: 0, rejected: 0, errors: [] });
    expect(viaApi.body).toMatchObject({ accepted: 1, rejected: [] });
    expect((await stored(p)).map((r) => r.org_id)).toEqual([closed.id, closed.id, closed.id]);
    const after = await invoices.get({ ctx, input: { id: closed.id, month: "2025-06" } });
    expect(after.total).toBe(inv.total);
    expect(after.number).toBe(inv.number);
  });

  test("an organization-bound key imports only its own organization's agents; others are unknown, exactly like agents that do not exist", async () => {
    const mine = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const theirs = await makeAgent(ctx, { org_id: other.id, external_id: uid("theirs"), created_at: BEFORE });
    const key = (await makeKey(database, "usage", org.id)).key;
    const p = uid("tenant");
    const res = await upload(
      [HEADER, `${p}-1,${mine.id},,gpt-4o,,1,1,,,,2025-06-01T00:00:00Z`, `${p}-2,${theirs.id},,gpt-4o,,1,1,,,,2025-06-01T00:00:00Z`, `${p}-3,,${theirs.external_id},gpt-4o,,1,1,,,,2025-06-01T00:00:00Z`].join("\n"),
      "text/csv",
      { key },
    );
    expect(res.body.accepted).toBe(1);
    expect(res.body.errors.map((e: any) => [e.line, e.code])).toEqual([
      [3, "unknown_agent"],
      [4, "unknown_agent"],
    ]);
    expect(JSON.stringify(res.body)).not.toContain(other.id);
    expect((await stored(p)).map((r) => r.id)).toEqual([`${p}-1`]);
    // A read key may not import at all.
    const read = (await makeKey(database, "read", org.id)).key;
    expect((await upload(`${HEADER}\n`, "text/csv", { key: read })).status).toBe(403);
  });

  test("limits: the media type, the header, the encoding and the length of a line; at most 100 errors listed", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const before = await snapshot();
    const wrongType = await upload(`${HEADER}\n`, "application/json");
    expect([wrongType.status, wrongType.type]).toEqual([415, "application/problem+json"]);
    const badHeader = await upload("id,agentid,model,input_tokens,output_tokens\nx,y,m,1,1\n");
    expect(badHeader.status).toBe(400);
    expect(badHeader.type).toBe("application/problem+json");
    expect(badHeader.body.errors).toEqual([
      { path: "header.agentid", message: expect.stringContaining("is not an Event field") },
      { path: "header.agent_id", message: "is a required column (or agent_external_id)" },
    ]);
    expect((await upload("")).status).toBe(400);
    // A header that cannot be read refuses the file: the next line is not taken for it.
    const unreadable = await upload(Buffer.concat([Buffer.from([0x69, 0x64, 0xff, 0x0a]), Buffer.from(`${HEADER}\n`)]));
    expect([unreadable.status, unreadable.body.errors]).toEqual([400, [{ path: "line 1", message: "the line is not valid UTF-8" }]]);
    expect((await upload(`${HEADER}\n`, "text/csv", { headers: { "content-encoding": "br" } })).status).toBe(415);
    expect((await fetch(`${base}/api/usage/import`, { method: "POST", headers: { "content-type": "text/csv" }, body: `${HEADER}\n` })).status).toBe(401);
    expect(await snapshot()).toEqual(before);

    const p = uid("limits");
    const good = `${p}-ok,${agent.id},,gpt-4o,,1,1,,,,2025-06-01T00:00:00Z`;
    const longLine = `${p}-long,${agent.id},,${"m".repeat(20_000)},,1,1,,,,2025-06-01T00:00:00Z`;
    const bytes = Buffer.concat([Buffer.from(`${HEADER}\n${longLine}\n`), Buffer.from([0x78, 0xff, 0xfe, 0x0a]), Buffer.from(`${good}\n`)]);
    const res = await upload(bytes);
    expect(res.body).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 2,
      errors: [
        { line: 2, id: null, code: "invalid", message: "the line is longer than 16384 characters" },
        { line: 3, id: null, code: "invalid", message: "the line is not valid UTF-8" },
      ],
    });

    const many = [HEADER, ...Array.from({ length: 150 }, (_, i) => `${p}-bad-${i},${agent.id},,gpt-4o,,x,1,,,,`)].join("\n");
    const capped = await upload(many, "text/csv", { base: small.base });
    expect(capped.body.rejected).toBe(150);
    expect(capped.body.errors).toHaveLength(100);
    expect(capped.body.errors.map((e: any) => e.line)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(capped.body.errors[0]).toEqual({ line: 2, id: `${p}-bad-0`, code: "invalid", message: "input_tokens: must be a whole number of tokens" });
  });

  test("a gzip-compressed file is read as it inflates", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: BEFORE });
    const p = uid("gz");
    const file = [HEADER, ...Array.from({ length: 20 }, (_, i) => `${p}-${i},${agent.id},,gpt-4o,,1,1,,,,2025-06-01T00:00:00Z`)].join("\n");
    const res = await upload(Bun.gzipSync(Buffer.from(file)), "text/csv", { headers: { "content-encoding": "gzip" } });
    expect(res.body).toEqual({ accepted: 20, duplicates: 0, rejected: 0, errors: [] });
  });
});
