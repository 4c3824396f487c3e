import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { retentionStart } from "../../server/modules/usage/retention";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { standardLoggingPayload } from "../support/fixtures/litellm";
import { ADMIN_KEY, startTestServer } from "../support/http";

// With USAGE_RETENTION_MONTHS set, an event older than the window is refused on every ingestion
// path with the same code and nothing of it is stored (docs/operations.md, "Usage retention").
const database = await testDatabase();
const { base, api } = startTestServer(database, { usageRetentionMonths: 1 });
const ctx = ctxFor(database);
const JAN = "2024-01-01T00:00:00Z";
const org = await makeOrg(ctx, { created_at: JAN });
const agent = await makeAgent(ctx, { org_id: org.id, external_id: `retention-${Date.now()}`, created_at: JAN });
const start = retentionStart(1, new Date())!;
const tooOld = new Date(start.getTime() - 3_600_000);
let n = 0;
const uid = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;

const storedCount = async (ids: string[]) => {
  const list = JSON.stringify(ids);
  const [r] = await rows<{ n: string }>(
    database.db,
    sql`select ((select count(*) from usage_events where id in (select jsonb_array_elements_text(${list}::jsonb)))
              + (select count(*) from usage_event_ids where id in (select jsonb_array_elements_text(${list}::jsonb))))::text as n`,
  );
  return Number(r!.n);
};
const usageEvent = (id: string, at: Date) => ({ id, agent_id: agent.id, model: "gpt-4o", input_tokens: 10, output_tokens: 5, occurred_at: at.toISOString() });

describe("events older than the retention window, on every ingestion path", () => {
  test("POST /api/usage: outside_retention, the in-window event of the batch stored", async () => {
    const old = uid("rest-old");
    const fresh = uid("rest-new");
    const res = await api.post("/api/usage", { events: [usageEvent(old, tooOld), usageEvent(fresh, new Date())] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 1, rejected: [{ index: 0, id: old, code: "outside_retention" }] });
    expect(res.body.rejected[0].message).toContain("retention window");
    expect(await storedCount([old])).toBe(0);
    expect(await storedCount([fresh])).toBe(2);
  });

  test("tRPC usage.ingest", async () => {
    const old = uid("trpc-old");
    const res = await fetch(`${base}/trpc/usage.ingest`, {
      method: "POST",
      headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" },
      body: JSON.stringify({ events: [usageEvent(old, tooOld)] }),
    }).then((r) => r.json() as Promise<any>);
    expect(res.result.data).toMatchObject({ accepted: 0, rejected: [{ index: 0, id: old, code: "outside_retention" }] });
    expect(await storedCount([old])).toBe(0);
  });

  test("OTLP/HTTP JSON: a rejected span, with the cause in the partial success", async () => {
    const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
    const traceId = hex(16);
    const spanId = hex(8);
    const attr = (key: string, value: string | number) => ({ key, value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value } });
    const end = String(BigInt(tooOld.getTime()) * 1_000_000n);
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId,
                  name: "chat",
                  endTimeUnixNano: end,
                  attributes: [attr("gen_ai.operation.name", "chat"), attr("gen_ai.agent.id", agent.external_id!), attr("gen_ai.request.model", "gpt-4o"), attr("gen_ai.usage.input_tokens", 10), attr("gen_ai.usage.output_tokens", 5)],
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await api.post("/api/otel/v1/traces", body);
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess.rejectedSpans).toBe("1");
    expect(res.body.partialSuccess.errorMessage).toContain("retention window");
    expect(await storedCount([`otel:${traceId}:${spanId}`])).toBe(0);
  });

  test("LiteLLM callback", async () => {
    const payload = standardLoggingPayload({ id: uid("call"), alias: agent.external_id!, endTime: tooOld.getTime() / 1000 });
    const res = await fetch(`${base}/api/integrations/litellm`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify([payload]),
    }).then((r) => r.json() as Promise<any>);
    expect(res).toMatchObject({ accepted: 0, skipped: 0, rejected: [{ index: 0, code: "outside_retention" }] });
    expect(await storedCount([`litellm:${payload.id}`])).toBe(0);
  });
});
