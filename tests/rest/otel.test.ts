import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import * as usage from "../../server/modules/usage/service";
import { ctxFor } from "../support/actors";
import { putPrice } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { ADMIN_KEY, client, startTestServer } from "../support/http";
import { agentRun, exportAgain, exporter } from "../support/otel";

const database = await testDatabase();
const { base, config } = startTestServer(database);
const api = client(base, ADMIN_KEY);
const ctx = ctxFor(database);
const TRACES = `${base}/api/otel/v1/traces`;
const org = await makeOrg(ctx, { created_at: "2025-05-01T00:00:00Z" });
let n = 0;
const uid = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;
const MODEL = "otel-test-model";
// USD per 1M tokens: 2.50 input, 1.25 cache read, 10.00 output.
await putPrice(ctx, { model: MODEL, effective_from: "2025-01-01", input_per_m: "2.50", output_per_m: "10.00", cache_read_per_m: "1.25" });

const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

/** What one agent was billed: events, tokens and exact cost, from the stored events. */
async function billed(agentId: string) {
  const [r] = await rows<Record<string, string>>(
    database.db,
    sql`select count(*)::text as events, coalesce(sum(input_tokens), 0)::text as input, coalesce(sum(cache_read_tokens), 0)::text as cache_read,
               coalesce(sum(output_tokens), 0)::text as output, coalesce(sum(cost_usd), 0)::numeric(20, 8)::text as cost
        from usage_events where agent_id = ${agentId}::uuid`,
  );
  return r!;
}
/** Everything the OTLP endpoint can store. */
async function storedCounts() {
  const [r] = await rows<Record<string, string>>(
    database.db,
    sql`select (select count(*) from usage_events)::text as events, (select count(*) from otel_spans)::text as spans, (select count(*) from otel_pending_spans)::text as pending`,
  );
  return r!;
}

const attr = (key: string, value: string | number) => ({ key, value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value } });
interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, string | number>;
}
/** An OTLP JSON export request, as the OTLP/HTTP JSON exporters write it. */
function otlpJson(spans: JsonSpan[], resource: Record<string, string> = { "service.name": "fixture" }) {
  const end = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [
      {
        resource: { attributes: Object.entries(resource).map(([k, v]) => attr(k, v)) },
        scopeSpans: [
          {
            scope: { name: "fixture" },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: 3,
              startTimeUnixNano: String(end - 1_000_000_000n),
              endTimeUnixNano: String(end),
              attributes: Object.entries(s.attributes).map(([k, v]) => attr(k, v)),
              status: {},
            })),
          },
        ],
      },
    ],
  };
}
const postJson = (body: unknown, headers: Record<string, string> = {}) => api.post("/api/otel/v1/traces", typeof body === "string" ? body : JSON.stringify(body), headers);

/** Captures what a real exporter sends (for the malformed-protobuf cases). */
async function capturedProtobuf(agentId: string): Promise<Uint8Array<ArrayBuffer>> {
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  const sink = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      bodies.push(new Uint8Array(await req.arrayBuffer()));
      return new Response(new Uint8Array(), { headers: { "content-type": "application/x-protobuf" } });
    },
  });
  await agentRun({ processor: "batch", exporter: exporter("proto", `http://127.0.0.1:${sink.port}/v1/traces`, ADMIN_KEY), agentId, model: MODEL });
  sink.stop(true);
  return bodies[0]!;
}

describe("OTLP/HTTP traces from the OpenTelemetry JS SDK", () => {
  // Chat 1: 1200 input of which 1000 cache reads → 200 fresh, 300 output; chat 2: 500 in, 100 out.
  // (700 × 2.50 + 1000 × 1.25 + 400 × 10.00) ÷ 10⁶ = 0.007 USD.
  const expected = { events: "2", input: "700", cache_read: "1000", output: "400", cost: "0.00700000" };

  for (const [processor, kind] of [["simple", "proto"], ["batch", "http"]] as const) {
    test(`${processor} span processor, ${kind === "proto" ? "protobuf" : "JSON"} exporter: exactly the two chat calls are billed, once, also when re-sent`, async () => {
      const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid(`otel-${processor}`) });
      const spans = await agentRun({ processor, exporter: exporter(kind, TRACES, ADMIN_KEY), agentId: agent.external_id!, model: MODEL });
      expect(spans.map((s) => s.attributes["gen_ai.operation.name"])).toEqual(["chat", "execute_tool", "chat", "invoke_agent"]);
      expect(await billed(agent.id)).toEqual(expected);
      // The exporter retries (the whole batch, and each span again).
      expect(await exportAgain(exporter(kind, TRACES, ADMIN_KEY), spans)).toBe(0);
      for (const span of spans) await exportAgain(exporter(kind === "proto" ? "http" : "proto", TRACES, ADMIN_KEY), [span]);
      expect(await billed(agent.id)).toEqual(expected);
      const records = await api.get(`/api/organizations/${org.id}/billing?months=1`);
      const line = records.body.records.find((r: any) => r.agent_id === agent.id);
      expect({ input: line.input_tokens, output: line.output_tokens, cost: line.token_cost_usd }).toEqual({ input: 700, output: 400, cost: "0.0070" });
    });
  }
});

describe("attribution", () => {
  test("a chat span whose parent never comes waits, is unattributed after 30 minutes but not lost, and is billed if the parent comes after all", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("late-parent") });
    const traceId = hex(16);
    const parent = hex(8);
    const chat = { traceId, spanId: hex(8), parentSpanId: parent, name: "chat", attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10 } };
    const res = await postJson(otlpJson([chat]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    const before = await usage.unattributedSpans({ ctx });
    await database.db.execute(sql`update otel_pending_spans set received_at = now() - interval '31 minutes' where span_id = ${chat.spanId}`);
    expect(await usage.unattributedSpans({ ctx })).toBe(before + 1);
    expect(await billed(agent.id)).toMatchObject({ events: "0" });
    await postJson(otlpJson([{ traceId, spanId: parent, name: "invoke_agent", attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": agent.external_id! } }]));
    expect(await billed(agent.id)).toMatchObject({ events: "1", input: "100", output: "10" });
    expect(await usage.unattributedSpans({ ctx })).toBe(before);
  });

  test("a child and its parent sent at the same time in two requests never miss each other: every child is billed once", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("concurrent") });
    const usageOf = { "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1 };
    const requests: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const traceId = hex(16);
      const parent = hex(8);
      requests.push(postJson(otlpJson([{ traceId, spanId: hex(8), parentSpanId: parent, name: "chat", attributes: usageOf }])));
      requests.push(postJson(otlpJson([{ traceId, spanId: parent, name: "invoke_agent", attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": agent.external_id! } }])));
    }
    await Promise.all(requests);
    expect(await billed(agent.id)).toMatchObject({ events: "20", input: "200", output: "20" });
  });

  test("the nearest ancestor with an agent id wins, through spans without one; the resource attribute is the fallback", async () => {
    const outer = await makeAgent(ctx, { org_id: org.id, external_id: uid("outer") });
    const inner = await makeAgent(ctx, { org_id: org.id, external_id: uid("inner") });
    const fallback = await makeAgent(ctx, { org_id: org.id, external_id: uid("resource") });
    const t = hex(16);
    const [root, sub, step, c1, c2] = [hex(8), hex(8), hex(8), hex(8), hex(8)];
    const usageOf = { "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1 };
    await postJson(
      otlpJson([
        { traceId: t, spanId: c1, parentSpanId: step, name: "chat", attributes: usageOf },
        { traceId: t, spanId: step, parentSpanId: sub, name: "step", attributes: {} },
        { traceId: t, spanId: sub, parentSpanId: root, name: "invoke_agent", attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": inner.external_id! } },
        { traceId: t, spanId: root, name: "invoke_agent", attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": outer.external_id! } },
        { traceId: t, spanId: c2, parentSpanId: root, name: "chat", attributes: usageOf },
      ]),
    );
    expect((await billed(inner.id)).events).toBe("1");
    expect((await billed(outer.id)).events).toBe("1");
    const lone = { traceId: hex(16), spanId: hex(8), name: "chat", attributes: usageOf };
    await postJson(otlpJson([lone], { "service.name": "x", "orgdesk.agent.id": fallback.external_id! }));
    expect((await billed(fallback.id)).events).toBe("1");
  });

  test("an unknown agent and a root span without any agent are counted in rejectedSpans; the rest is stored", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("known") });
    const usageOf = { "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1 };
    const res = await postJson(
      otlpJson([
        { traceId: hex(16), spanId: hex(8), name: "chat", attributes: { ...usageOf, "gen_ai.agent.id": "nobody-knows-me" } },
        { traceId: hex(16), spanId: hex(8), name: "chat", attributes: usageOf },
        { traceId: hex(16), spanId: hex(8), name: "chat", attributes: { ...usageOf, "gen_ai.agent.id": agent.external_id! } },
        { traceId: hex(16), spanId: hex(8), name: "embeddings", attributes: { "gen_ai.operation.name": "embeddings", "gen_ai.agent.id": agent.external_id! } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess.rejectedSpans).toBe("2");
    expect(res.body.partialSuccess.errorMessage).toContain("no agent nobody-knows-me");
    expect(res.body.partialSuccess.errorMessage).toContain("no gen_ai.agent.id");
    expect((await billed(agent.id)).events).toBe("1");
  });
  test("an agent id with a NUL character (PostgreSQL text cannot hold one) is an unknown agent: its span is rejected, the rest of the request stored", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("beside-nul") });
    const usageOf = { "gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1 };
    const before = await storedCounts();
    const res = await postJson(
      otlpJson([
        { traceId: hex(16), spanId: hex(8), name: "chat", attributes: { ...usageOf, "gen_ai.agent.id": `${agent.external_id!}\u0000` } },
        { traceId: hex(16), spanId: hex(8), name: "chat", attributes: { ...usageOf, "gen_ai.agent.id": agent.external_id! } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess.rejectedSpans).toBe("1");
    expect(res.body.partialSuccess.errorMessage).toContain("agent_external_id: must not contain spaces or control characters");
    expect(await billed(agent.id)).toMatchObject({ events: "1", input: "10", output: "1" });
    // So is one on the resource.
    const fromResource = await postJson(otlpJson([{ traceId: hex(16), spanId: hex(8), name: "chat", attributes: usageOf }], { "service.name": "fixture", "orgdesk.agent.id": "a\u0000b" }));
    expect(fromResource.status).toBe(200);
    expect(fromResource.body.partialSuccess.rejectedSpans).toBe("1");
    expect(await storedCounts()).toMatchObject({ events: String(Number(before.events) + 1) });
  });
});

describe("attribute families", () => {
  test("Vercel AI SDK spans: only the provider call (doGenerate) bills, with its cached input made fresh", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("ai-sdk") });
    const t = hex(16);
    const outer = hex(8);
    await postJson(
      otlpJson([
        {
          traceId: t,
          spanId: hex(8),
          parentSpanId: outer,
          name: "ai.generateText.doGenerate",
          attributes: {
            "operation.name": "ai.generateText.doGenerate",
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "openai.chat",
            "ai.model.id": MODEL,
            "ai.response.model": MODEL,
            "ai.usage.inputTokens": 1200,
            "ai.usage.cachedInputTokens": 1000,
            "ai.usage.outputTokens": 300,
            "gen_ai.system": "openai.chat",
            "gen_ai.request.model": MODEL,
          },
        },
        {
          traceId: t,
          spanId: outer,
          name: "ai.generateText",
          attributes: { "operation.name": "ai.generateText", "ai.operationId": "ai.generateText", "ai.model.id": MODEL, "ai.usage.inputTokens": 1200, "ai.usage.outputTokens": 300, "ai.telemetry.metadata.agent_id": agent.external_id! },
        },
      ]),
    );
    expect(await billed(agent.id)).toEqual({ events: "1", input: "200", cache_read: "1000", output: "300", cost: "0.00475000" });
  });

  test("OpenInference spans: the LLM span bills with llm.* token counts; AGENT, CHAIN and TOOL spans do not", async () => {
    const agent = await makeAgent(ctx, { org_id: org.id, external_id: uid("openinference") });
    const t = hex(16);
    const root = hex(8);
    await postJson(
      otlpJson([
        {
          traceId: t,
          spanId: hex(8),
          parentSpanId: root,
          name: "ChatOpenAI",
          attributes: {
            "openinference.span.kind": "LLM",
            "llm.model_name": MODEL,
            "llm.provider": "openai",
            "llm.token_count.prompt": 1500,
            "llm.token_count.prompt_details.cache_read": 1000,
            "llm.token_count.prompt_details.cache_write": 300,
            "llm.token_count.completion": 80,
            "llm.token_count.total": 1580,
          },
        },
        { traceId: t, spanId: hex(8), parentSpanId: root, name: "search", attributes: { "openinference.span.kind": "TOOL", "llm.token_count.prompt": 5 } },
        { traceId: t, spanId: root, name: "Agent", attributes: { "openinference.span.kind": "AGENT", "gen_ai.agent.id": agent.external_id!, "llm.token_count.prompt": 1500, "llm.token_count.completion": 80 } },
      ]),
    );
    // No cache-write price: it falls back to the input price. (200 × 2.50 + 1000 × 1.25 + 300 × 2.50 + 80 × 10.00) ÷ 10⁶.
    expect(await billed(agent.id)).toEqual({ events: "1", input: "200", cache_read: "1000", output: "80", cost: "0.00330000" });
  });
});

const badInputAgent = uid("bad-input");
await makeAgent(ctx, { org_id: org.id, external_id: badInputAgent });
const valid = await capturedProtobuf(badInputAgent);

describe("bad input stores nothing", () => {
  const send = (body: Uint8Array<ArrayBuffer> | string, headers: Record<string, string>) =>
    fetch(TRACES, { method: "POST", headers: { authorization: `Bearer ${ADMIN_KEY}`, ...headers }, body });

  test("a truncated or corrupt protobuf is a 400", async () => {
    expect(valid.length).toBeGreaterThan(100);
    const before = await storedCounts();
    for (const body of [valid.slice(0, valid.length - 7), valid.slice(0, 40), Uint8Array.from(valid, (b, i) => (i % 5 === 0 ? 0xff : b)), new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f])]) {
      const res = await send(body, { "content-type": "application/x-protobuf" });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    expect(await storedCounts()).toEqual(before);
  });

  test("JSON that is not OTLP is a 400", async () => {
    const before = await storedCounts();
    for (const body of ['{"events": []}', "[1, 2]", '"traces"', '{"resourceSpans": {}}', '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "1"}]}]}]}', "{not json", '{"resourceSpans": [], "resourceSpans": []}', `{"resourceSpans": ${"[".repeat(100)}${"]".repeat(100)}}`]) {
      expect((await postJson(body)).status).toBe(400);
    }
    expect(await storedCounts()).toEqual(before);
  });

  test("a gzip body that inflates past the body limit is a 413, read as a stream; a valid gzip body works", async () => {
    const before = await storedCounts();
    const bomb = Bun.gzipSync(new Uint8Array(config.maxBodyBytes * 8));
    expect(bomb.length).toBeLessThan(config.maxBodyBytes / 10);
    const res = await send(bomb, { "content-type": "application/x-protobuf", "content-encoding": "gzip" });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).detail).toContain("inflates to more than");
    expect((await send(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), { "content-type": "application/x-protobuf", "content-encoding": "gzip" })).status).toBe(400);
    expect(await storedCounts()).toEqual(before);
    const ok = await send(Bun.gzipSync(valid), { "content-type": "application/x-protobuf", "content-encoding": "gzip" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/x-protobuf");
  });

  test("other media types are a 415 and no credentials a 401", async () => {
    expect((await send(valid, { "content-type": "text/plain" })).status).toBe(415);
    expect((await fetch(TRACES, { method: "POST", headers: { "content-type": "application/x-protobuf" }, body: valid })).status).toBe(401);
  });
});
