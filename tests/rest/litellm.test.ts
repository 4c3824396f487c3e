import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { ctxFor } from "../support/actors";
import { putPrice } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { standardLoggingPayload } from "../support/fixtures/litellm";
import { ADMIN_KEY, startTestServer } from "../support/http";

const database = await testDatabase();
const { base } = startTestServer(database);
const ctx = ctxFor(database);
const BEFORE = "2025-05-01T00:00:00Z";
const org = await makeOrg(ctx, { created_at: BEFORE });
let n = 0;
const uid = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;
// gpt-4o: 2.50 input, 1.25 cache read, 3.75 cache write, 10.00 output (USD per 1M tokens).
await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-01-01", input_per_m: "2.50", output_per_m: "10.00", cache_read_per_m: "1.25", cache_write_per_m: "3.75" });
await putPrice(ctx, { model: "claude-sonnet-4", effective_from: "2025-01-01", input_per_m: "3.00", output_per_m: "15.00", cache_read_per_m: "0.30", cache_write_per_m: "3.75" });

/** POSTs a body as LiteLLM does: always Content-Type application/json, the key in a header. */
const send = async (body: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}/api/integrations/litellm`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}`, ...headers }, body });
  return { status: res.status, body: (await res.json()) as any };
};
const stored = (ids: string[]) =>
  rows<{ id: string; agent_id: string; model: string; provider: string | null; input_tokens: string; output_tokens: string; cache_read_tokens: string; cache_write_tokens: string; cost_usd: string | null; occurred_at: string }>(
    database.db,
    sql`select id, agent_id::text, model, provider, input_tokens::text, output_tokens::text, cache_read_tokens::text, cache_write_tokens::text, cost_usd::text, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as occurred_at
        from usage_events where id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)) order by id`,
  );

describe("LiteLLM generic_api callback", () => {
  test("json_array: successful calls are billed from Orgdesk's prices by key alias, failures are skipped and never billed", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("litellm-agent"), created_at: BEFORE });
    const ok = standardLoggingPayload({ id: uid("call"), alias: agent.external_id, promptTokens: 1200, completionTokens: 300, cachedTokens: 1000 });
    const failed = standardLoggingPayload({ id: uid("call"), alias: agent.external_id, status: "failure" });
    const res = await send(JSON.stringify([ok, failed]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, unpriced: 0, rejected: [], skipped: 1 });
    const [row, ...others] = await stored([`litellm:${ok.id}`, `litellm:${failed.id}`]);
    expect(others).toEqual([]);
    // 1200 prompt tokens of which 1000 cached: 200 fresh. (200×2.50 + 1000×1.25 + 300×10.00) ÷ 10⁶.
    expect(row).toMatchObject({ agent_id: agent.id, model: "gpt-4o", provider: "openai", input_tokens: "200", cache_read_tokens: "1000", cache_write_tokens: "0", output_tokens: "300" });
    expect(Number(row!.cost_usd)).toBe(0.00475);
    expect(row!.cost_usd).toMatch(/^0\.00475(0*)$/);
    expect(row!.occurred_at).toBe("2025-06-10T12:00:00.250Z");
  });

  test("ndjson with Anthropic cache counts, and the end user when the key has no alias; a re-send is a duplicate", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("end-user-agent"), created_at: BEFORE });
    const cached = standardLoggingPayload({ id: uid("call"), endUser: agent.external_id, model: "claude-sonnet-4-20250514", provider: "anthropic", promptTokens: 5000, completionTokens: 120, cacheRead: 800, cacheCreation: 4000 });
    const body = `${JSON.stringify(cached)}\n${JSON.stringify(standardLoggingPayload({ id: uid("call"), endUser: agent.external_id, status: "failure" }))}\n`;
    expect((await send(body)).body).toEqual({ accepted: 1, duplicates: 0, unpriced: 0, rejected: [], skipped: 1 });
    const [row] = await stored([`litellm:${cached.id}`]);
    expect(row).toMatchObject({ agent_id: agent.id, input_tokens: "200", cache_read_tokens: "800", cache_write_tokens: "4000", output_tokens: "120" });
    // (200×3.00 + 800×0.30 + 4000×3.75 + 120×15.00) ÷ 10⁶ = 0.01764
    expect(Number(row!.cost_usd)).toBe(0.01764);
    expect((await send(body)).body).toEqual({ accepted: 0, duplicates: 1, unpriced: 0, rejected: [], skipped: 1 });
  });

  test("single: one object per request", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("single"), created_at: BEFORE });
    const one = standardLoggingPayload({ id: uid("call"), alias: agent.external_id });
    expect((await send(JSON.stringify(one))).body).toMatchObject({ accepted: 1, rejected: [], skipped: 0 });
  });

  test("a payload without a known agent is rejected by its position in the body, the others stored", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("known"), created_at: BEFORE });
    const payloads = [
      standardLoggingPayload({ id: uid("call"), status: "failure" }),
      standardLoggingPayload({ id: uid("call"), alias: uid("nobody") }),
      standardLoggingPayload({ id: uid("call"), alias: null, endUser: null }),
      standardLoggingPayload({ id: uid("call"), alias: agent.external_id }),
    ];
    const res = await send(JSON.stringify(payloads));
    expect(res.body.accepted).toBe(1);
    expect(res.body.skipped).toBe(1);
    expect(res.body.rejected.map((r: any) => [r.index, r.code])).toEqual([
      [1, "unknown_agent"],
      [2, "invalid"],
    ]);
    expect((await stored(payloads.map((p) => `litellm:${p.id}`))).map((r) => r.id)).toEqual([`litellm:${payloads[3]!.id}`]);
  });

  test("malformed bodies are 400s, a foreign media type 415, no credentials 401, and nothing is stored", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("bad"), created_at: BEFORE });
    const good = standardLoggingPayload({ id: uid("call"), alias: agent.external_id });
    const broken = await send(`${JSON.stringify(good)}\n{"id": "half`);
    expect(broken.status).toBe(400);
    expect(broken.body.errors).toEqual([{ path: "(body) line 2", message: "is not valid JSON" }]);
    expect((await send("")).status).toBe(400);
    expect((await send("[]")).status).toBe(400);
    const notLitellm = await send(JSON.stringify([good, { name: "not a logging payload" }]));
    expect(notLitellm.status).toBe(400);
    expect(notLitellm.body.errors[0].path).toBe("(body) payload 1");
    expect((await send(`{"id": "a", "id": "b", "status": "success"}`)).status).toBe(400);
    expect((await send(`${"[".repeat(100)}${"]".repeat(100)}`)).status).toBe(400);
    expect((await send(JSON.stringify(good), { "content-type": "" })).status).toBe(415);
    expect((await send(JSON.stringify(good), { "content-type": "application/xml" })).status).toBe(415);
    expect((await send(JSON.stringify(good), { authorization: "" })).status).toBe(401);
    expect(await stored([`litellm:${good.id}`])).toEqual([]);
  });
});
