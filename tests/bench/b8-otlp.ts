import protobuf from "protobufjs";
import { OTLP_PROTO } from "../../server/modules/usage/otlp-proto";
import { startProcess } from "../support/server-process";
import { ADMIN_KEY, SERVER_ENV } from "./b1-api";
import { admin, dropDatabase, urlFor } from "./lib/databases";
import { median, timed } from "./lib/load";
import { num, pct, type Row } from "./lib/report";

export interface OtlpSettings {
  rounds: number;
  /** Billable spans (and events) per round, sent 1000 a request. */
  spans: number;
}

const BATCH = 1000;
const AGENTS = 20;
const MODEL = "gpt-4o";

/**
 * B8: billable spans per second through `POST /api/otel/v1/traces` (protobuf, 1000 chat spans a
 * request, each naming its agent by `gen_ai.agent.id`) against the same events through
 * `POST /api/usage` (1000 a batch, `agent_external_id`), on one server over a fresh database.
 * The two paths' requests alternate batch by batch; medians of rows/s over rounds. Both paths end in the same ingestion statement, so the ratio
 * is the price of decoding protobuf, mapping spans and remembering them for attribution.
 */
export async function runOtlp(settings: OtlpSettings, log: (s: string) => void): Promise<Row[]> {
  const name = `orgdesk_bench_otlp_${process.pid}`;
  const adminSql = admin();
  await dropDatabase(adminSql, name);
  await adminSql.unsafe(`create database "${name}"`);
  const server = await startProcess("server/index.ts", { ...SERVER_ENV, DATABASE_URL: urlFor(name) });
  const auth = { "x-api-key": ADMIN_KEY };
  const post = async (path: string, body: string | Uint8Array, type: string) => {
    const res = await fetch(server.base + path, { method: "POST", headers: { ...auth, "content-type": type }, body: body as BodyInit });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res;
  };
  try {
    const created = await fetch(`${server.base}/api/organizations`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ name: "Bench OTLP" }) });
    if (created.status !== 201) throw new Error(`organization: ${created.status}`);
    const org = (await created.json()) as { id: string };
    const price = await fetch(`${server.base}/api/model-prices`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ prices: [{ model: MODEL, effective_from: "2024-01-01", input_per_m: "2.50", output_per_m: "10.00", cache_read_per_m: "1.25" }] }),
    });
    if (price.status !== 200) throw new Error(`price: ${price.status}`);
    const refs: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const res = await fetch(`${server.base}/api/agents`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ name: `Bench agent ${i}`, org_id: org.id, external_id: `bench-agent-${i}` }) });
      if (res.status !== 201) throw new Error(`agent: ${res.status}`);
      refs.push(`bench-agent-${i}`);
    }
    const Request = protobuf.parse(OTLP_PROTO, { keepCase: true }).root.lookupType("orgdesk.otlp.ExportTraceServiceRequest");
    const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
    const kv = (key: string, value: string | number) => ({ key, value: typeof value === "number" ? { int_value: value } : { string_value: value } });

    const usageRate: number[] = [];
    const otlpRate: number[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      const end = Date.now();
      const calls = Array.from({ length: settings.spans }, (_, i) => ({ i, agent: refs[i % AGENTS]!, input: 500 + (i % 700), cached: i % 3 === 0 ? 200 : 0, output: 50 + (i % 300) }));
      // /api/usage: the same calls as Orgdesk events (fresh input already).
      const usageBodies: string[] = [];
      for (let b = 0; b < calls.length; b += BATCH) {
        const events = calls.slice(b, b + BATCH).map((c) => ({
          id: `b8u${round}_${c.i}`,
          agent_external_id: c.agent,
          model: MODEL,
          provider: "openai",
          input_tokens: c.input - c.cached,
          cache_read_tokens: c.cached,
          output_tokens: c.output,
          occurred_at: new Date(end).toISOString(),
        }));
        usageBodies.push(JSON.stringify({ events }));
      }
      // OTLP: one trace per 1000 calls, each call a chat span under no parent, naming its agent.
      const otlpBodies: Uint8Array[] = [];
      for (let b = 0; b < calls.length; b += BATCH) {
        const traceId = Buffer.from(hex(round + 1, 16) + hex(b + 1, 16), "hex");
        const spans = calls.slice(b, b + BATCH).map((c) => ({
          trace_id: traceId,
          span_id: Buffer.from(hex(c.i + 1, 16), "hex"),
          name: `chat ${MODEL}`,
          kind: 3,
          start_time_unix_nano: (end - 1000) * 1e6,
          end_time_unix_nano: end * 1e6,
          attributes: [
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.agent.id", c.agent),
            kv("gen_ai.provider.name", "openai"),
            kv("gen_ai.request.model", MODEL),
            kv("gen_ai.usage.input_tokens", c.input),
            kv("gen_ai.usage.cache_read.input_tokens", c.cached),
            kv("gen_ai.usage.output_tokens", c.output),
          ],
        }));
        otlpBodies.push(Request.encode(Request.fromObject({ resource_spans: [{ resource: { attributes: [kv("service.name", "bench")] }, scope_spans: [{ spans }] }] })).finish());
      }
      // The two paths' requests alternate, one batch each in turn, so that both meet the same load
      // of a shared machine (rounds of one path then the other swung with it).
      let usageMs = 0;
      let otlpMs = 0;
      for (let b = 0; b < usageBodies.length; b++) {
        const [u] = await timed(async () => {
          const r = (await (await post("/api/usage", usageBodies[b]!, "application/json")).json()) as { rejected: unknown[] };
          if (r.rejected.length > 0) throw new Error(`B8: /api/usage rejected events: ${JSON.stringify(r.rejected[0])}`);
        });
        const [o] = await timed(async () => {
          const r = await post("/api/otel/v1/traces", otlpBodies[b]!, "application/x-protobuf");
          const bytes = new Uint8Array(await r.arrayBuffer());
          if (bytes.length > 0) throw new Error("B8: OTLP rejected spans");
        });
        usageMs += u;
        otlpMs += o;
      }
      usageRate.push(calls.length / (usageMs / 1000));
      otlpRate.push(calls.length / (otlpMs / 1000));
      log(`B8 round ${round + 1}: /api/usage ${num(usageRate.at(-1)!)} events/s, OTLP ${num(otlpRate.at(-1)!)} spans/s`);
    }
    const ratio = median(otlpRate) / median(usageRate);
    return [
      {
        id: "B8",
        what: "OTLP protobuf billable spans/s vs the same events through POST /api/usage",
        figure: `${pct(ratio)} (${num(median(otlpRate))} vs ${num(median(usageRate))} rows/s)`,
        target: "≥ 70 %",
        status: ratio >= 0.7 ? "pass" : "FAIL",
      },
    ];
  } finally {
    await server.stop();
    await dropDatabase(adminSql, name).catch(() => {});
    await adminSql.end();
  }
}
