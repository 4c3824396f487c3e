import { describe, expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { parseCsv } from "../support/csv";
import { client, startTestServer } from "../support/http";
import { makeKey } from "../support/access";

const database = await testDatabase();
const { api, base } = startTestServer(database);
const BEFORE = "2025-05-01T00:00:00Z";

const org = (await api.post("/api/organizations", { name: "Billing Rest Co", billing_rate_per_agent: "99.00", created_at: BEFORE })).body;
const agentA = (await api.post("/api/agents", { name: "Rest Agent A", org_id: org.id, created_at: BEFORE })).body;
const agentB = (await api.post("/api/agents", { name: "Rest Agent B", org_id: org.id, created_at: BEFORE })).body;

const ev = (id: string, agentId: string, extra: Record<string, unknown> = {}) => ({
  id,
  agent_id: agentId,
  model: "gpt-4o",
  input_tokens: 1000,
  output_tokens: 100,
  occurred_at: "2025-06-15T00:00:00Z",
  ...extra,
});

describe("POST /api/usage", () => {
  test("one event is accepted; sent again it is a duplicate", async () => {
    const e = ev("rest-1", agentA.id, { cost_usd: "3.00" });
    const first = await api.post("/api/usage", e);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ accepted: 1, duplicates: 0, unpriced: 0, rejected: [] });
    const again = await api.post("/api/usage", e);
    expect(again.body).toEqual({ accepted: 0, duplicates: 1, unpriced: 0, rejected: [] });
  });

  test("a batch reports each rejected item by index, id, code and message and stores the rest", async () => {
    const res = await api.post("/api/usage", {
      events: [ev("rest-2", agentB.id), ev("rest-3", crypto.randomUUID()), { id: "rest-4", agent_id: agentA.id }, ev("rest-1", agentA.id, { cost_usd: "4.00" })],
    });
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toEqual([
      { index: 1, id: "rest-3", code: "unknown_agent", message: expect.any(String) },
      { index: 2, id: "rest-4", code: "invalid", message: expect.stringContaining("model") },
      { index: 3, id: "rest-1", code: "id_conflict", message: expect.any(String) },
    ]);
  });

  test("a batch of 1000 realistic events fits in the body limit", async () => {
    const events = Array.from({ length: 1000 }, (_, i) =>
      ev(`rest-big-${i}-${"x".repeat(60)}`, i % 2 ? agentA.id : agentB.id, {
        model: "claude-sonnet-4-20250514",
        provider: "anthropic",
        cache_read_tokens: 123456,
        cache_write_tokens: 1234,
        occurred_at: `2025-06-${String(1 + (i % 28)).padStart(2, "0")}T12:34:56.789Z`,
      }),
    );
    const body = JSON.stringify({ events });
    expect(body.length).toBeLessThan(2 * 1024 * 1024);
    const res = await api.post("/api/usage", body);
    expect(res.body).toMatchObject({ accepted: 1000, rejected: [] });
  });

  test("more than 1000 events is a 413 that says how to fix it", async () => {
    const events = Array.from({ length: 1001 }, (_, i) => ev(`rest-over-${i}`, agentA.id));
    const res = await api.post("/api/usage", { events });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.detail).toContain("at most 1000 events");
  });

  test("a body that is neither an event nor { events: [...] } is a 400; not JSON is a 415", async () => {
    expect((await api.post("/api/usage", [ev("rest-5", agentA.id)])).status).toBe(400);
    const notArray = await api.post("/api/usage", { events: "nope" });
    expect(notArray.status).toBe(400);
    expect(notArray.body.errors[0].path).toBe("events");
    expect((await api.post("/api/usage", "id=1", { "content-type": "text/plain" })).status).toBe(415);
    // Text PostgreSQL cannot store, and amounts too large for a cost, are item errors, never a 500.
    const odd = await api.post("/api/usage", {
      events: [ev("nul\u0000id", agentA.id), ev("rest-nul-2", agentA.id, { provider: "a\u0000b" }), ev("rest-huge", agentA.id, { cost_usd: "1e30" })],
    });
    expect(odd.status).toBe(200);
    expect(odd.body.rejected.map((r: { code: string }) => r.code)).toEqual(["invalid", "invalid", "invalid"]);
    const huge = await api.put("/api/model-prices", { prices: [{ model: "huge", effective_from: "2025-01-01", input_per_m: "10000000", output_per_m: 1 }] });
    expect(huge.status).toBe(400);
  });

  test("POST /api/usage/reprice re-prices a range; a reversed range is a 400", async () => {
    const ok = await api.post("/api/usage/reprice", { from: "2025-06-01", to: "2025-06-30" });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ from: "2025-06-01", to: "2025-06-30", model: null, unpriced: 0 });
    const bad = await api.post("/api/usage/reprice", { from: "2025-07-01", to: "2025-06-30" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: "from", message: "must not be after to" }]);
  });
});

describe("billing endpoints", () => {
  test("billing-summary of the reference example (docs/billing.md), by id and by slug", async () => {
    for (const ref of [org.id, org.slug]) {
      const res = await api.get(`/api/organizations/${ref}/billing-summary?from=2025-06&to=2025-06`);
      expect(res.status).toBe(200);
      expect(res.body.organization_id).toBe(org.id);
      expect(res.body.currency).toBe("USD");
      expect(res.body.summary).toHaveLength(1);
      expect(res.body.summary[0]).toMatchObject({ month: "2025-06", is_partial: false, agent_count: 2, total_revenue: "198.00", fx_rate: "1" });
    }
  });

  test("billing-summary defaults to the last 12 months ending with the current one", async () => {
    const res = await api.get(`/api/organizations/${org.id}/billing-summary`);
    expect(res.status).toBe(200);
    expect(res.body.summary).toHaveLength(12);
    const now = new Date();
    expect(res.body.to).toBe(`${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`);
    expect(res.body.summary.at(-1).is_partial).toBe(true);
  });

  test("billing with months=N returns the records of N months", async () => {
    const res = await api.get(`/api/organizations/${org.id}/billing?months=3`);
    expect(res.status).toBe(200);
    expect(new Set(res.body.records.map((r: { month: string }) => r.month)).size).toBe(3);
    expect(res.body.records.filter((r: { agent_id: string }) => r.agent_id === agentA.id)).toHaveLength(3);
  });

  test("bad ranges are 400s naming the field", async () => {
    const cases: [string, string][] = [
      ["from=2025-13", "from"],
      ["from=June", "from"],
      ["from=2025-07&to=2025-06", "from"],
      ["months=0", "months"],
      ["months=121", "months"],
      ["months=abc", "months"],
      ["months=2&from=2025-01", "months"],
      ["to=2999-01", "to"],
      ["from=1999-12&to=2000-02", "from"],
    ];
    for (const [query, path] of cases) {
      const res = await api.get(`/api/organizations/${org.id}/billing?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });

  test("an unknown organization is a 404 problem", async () => {
    for (const path of ["billing-summary", "billing", "billing/export"]) {
      const res = await api.get(`/api/organizations/no-such-org/${path}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
  });

  test("the CSV export downloads a file whose rows match billing exactly", async () => {
    const range = "from=2025-05&to=2025-07";
    const records = (await api.get(`/api/organizations/${org.id}/billing?${range}`)).body.records as Record<string, unknown>[];
    expect(records.length).toBeGreaterThan(3);
    const res = await fetch(`${base}/api/organizations/${org.slug}/billing/export?${range}&format=csv`, { headers: { "x-api-key": "test-admin-key" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="billing-${org.slug}-2025-05_2025-07.csv"`);
    const [header, ...lines] = parseCsv(await res.text());
    expect(header).toEqual(Object.keys(records[0]!));
    expect(lines).toHaveLength(records.length);
    lines.forEach((line, i) => {
      expect(line).toEqual(header!.map((k) => (records[i]![k] === null ? "" : String(records[i]![k]))));
    });
  });

  test("records carry seat_revenue and usage_revenue per agent over REST, tRPC and the CSV", async () => {
    const billed = (await api.post("/api/organizations", { name: "Usage Split Rest Co", billing_rate_per_agent: "10.00", created_at: "2024-02-01T00:00:00Z" })).body;
    const agent = (await api.post("/api/agents", { name: "Split Rest Agent", org_id: billed.id, created_at: "2024-02-01T00:00:00Z" })).body;
    expect((await api.put(`/api/organizations/${billed.id}/invoicing`, { usage_markup_pct: "10" })).status).toBe(200);
    // Archived from April 2024, so it bills nothing in the months the other tests sum.
    expect((await api.patch(`/api/agents/${agent.id}`, { status: "archived", effective_at: "2024-04-01T00:00:00Z" })).status).toBe(200);
    await api.post("/api/usage", ev("split-rest-1", agent.id, { cost_usd: "1.25", occurred_at: "2024-03-15T00:00:00Z" }));
    // Seat 10.00 (all of March); usage 1.25 × 1.1 = 1.375 → 1.38 (half to even); revenue 11.38.
    const rest = await api.get(`/api/organizations/${billed.id}/billing?from=2024-03&to=2024-03`);
    expect(rest.body.records[0]).toMatchObject({ seat_revenue: "10.00", usage_revenue: "1.38", revenue: "11.38", projected_revenue: "11.38", margin: "10.13" });
    const input = encodeURIComponent(JSON.stringify({ id: billed.id, from: "2024-03", to: "2024-03" }));
    const trpc = (await (await fetch(`${base}/trpc/billing.records?input=${input}`, { headers: { "x-api-key": "test-admin-key" } })).json()) as any;
    expect(trpc.result.data).toEqual(rest.body);
    const res = await fetch(`${base}/api/organizations/${billed.id}/billing/export?from=2024-03&to=2024-03&format=csv`, { headers: { "x-api-key": "test-admin-key" } });
    const [header, line] = parseCsv(await res.text());
    expect(line![header!.indexOf("seat_revenue")]).toBe("10.00");
    expect(line![header!.indexOf("usage_revenue")]).toBe("1.38");
  });

  test("the JSON export is the billing response as a file", async () => {
    const res = await api.get(`/api/organizations/${org.id}/billing/export?from=2025-06&to=2025-06&format=json`);
    expect(res.headers.get("content-disposition")).toContain(".json");
    const billing = await api.get(`/api/organizations/${org.id}/billing?from=2025-06&to=2025-06`);
    expect(res.body).toEqual(billing.body);
    expect((await api.get(`/api/organizations/${org.id}/billing/export?format=xml`)).status).toBe(400);
  });

  test("the overview lists every organization's month with USD totals", async () => {
    const res = await api.get("/api/billing/overview?month=2025-06");
    expect(res.status).toBe(200);
    expect(res.body.month).toBe("2025-06");
    const row = res.body.organizations.find((o: { id: string }) => o.id === org.id);
    expect(row).toMatchObject({ total_revenue: "198.00", revenue_usd: "198.00", is_internal: false });
    expect(res.body.organizations.some((o: { is_internal: boolean }) => o.is_internal)).toBe(true);
    expect(res.body.totals.revenue_usd).toBe("198.00");
    expect((await api.get("/api/billing/overview?month=2025-6")).status).toBe(400);
  });
});

describe("prices and FX tables", () => {
  test("GET /api/model-prices lists the defaults; PUT adds an entry", async () => {
    const list = await api.get("/api/model-prices");
    expect(list.status).toBe(200);
    expect(list.body.prices.map((p: { model: string }) => p.model)).toContain("claude-sonnet-4");
    const put = await api.put("/api/model-prices", { prices: [{ model: "Acme-LLM-2", effective_from: "2025-01-01", input_per_m: 0.5, output_per_m: "1.5" }] });
    expect(put.status).toBe(200);
    expect(put.body.prices.find((p: { model: string }) => p.model === "acme-llm-2")).toMatchObject({ input_per_m: "0.5", output_per_m: "1.5", cache_read_per_m: null });
  });

  test("an invalid price entry is a 400 listing every bad field, and changes nothing", async () => {
    const res = await api.put("/api/model-prices", { prices: [{ model: "", effective_from: "2025-02-30", input_per_m: -1, output_per_m: "1.0000000000001" }] });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["prices.0.effective_from", "prices.0.input_per_m", "prices.0.model", "prices.0.output_per_m"]);
  });

  test("FX rates: GET lists, PUT adds; USD is refused", async () => {
    const put = await api.put("/api/fx-rates", { rates: [{ currency: "GBP", effective_from: "2025-03-01", rate: "0.79" }] });
    expect(put.status).toBe(200);
    expect(put.body.rates.find((r: { currency: string; effective_from: string }) => r.currency === "GBP" && r.effective_from === "2025-03-01").rate).toBe("0.79");
    const usd = await api.put("/api/fx-rates", { rates: [{ currency: "USD", effective_from: "2025-03-01", rate: "1" }] });
    expect(usd.status).toBe(400);
    const zero = await api.put("/api/fx-rates", { rates: [{ currency: "EUR", effective_from: "2025-03-01", rate: "0" }] });
    expect(zero.status).toBe(400);
    expect((await api.get("/api/fx-rates")).body.base).toBe("USD");
  });

  test("the OpenAPI document lists the billing, usage and price paths", async () => {
    const doc = (await api.get("/api/openapi.json")).body;
    for (const p of [
      "/api/organizations/{id}/billing-summary",
      "/api/organizations/{id}/billing",
      "/api/organizations/{id}/billing/export",
      "/api/billing/overview",
      "/api/usage",
      "/api/usage/reprice",
      "/api/model-prices",
      "/api/fx-rates",
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
  });
});

describe("the same procedures over tRPC", () => {
  const trpcGet = (path: string, input: unknown) =>
    fetch(`${base}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers: { "x-api-key": "test-admin-key" } }).then((r) => r.json() as Promise<any>);

  test("billing.summary, billing.records and billing.export answer like REST", async () => {
    const rest = await api.get(`/api/organizations/${org.id}/billing-summary?from=2025-06&to=2025-06`);
    const summary = await trpcGet("billing.summary", { id: org.id, from: "2025-06", to: "2025-06" });
    expect(summary.result.data).toEqual(rest.body);
    const records = await trpcGet("billing.records", { id: org.slug, months: 2 });
    expect(records.result.data.records.length).toBeGreaterThan(0);
    const file = await trpcGet("billing.export", { id: org.id, from: "2025-06", to: "2025-06" });
    expect(file.result.data).toMatchObject({ filename: `billing-${org.slug}-2025-06_2025-06.csv`, content_type: "text/csv; charset=utf-8" });
    const bad = await trpcGet("billing.summary", { id: org.id, from: "2025-07", to: "2025-06" });
    expect(bad.error.data.httpStatus).toBe(400);
  });

  test("usage.ingest takes a batch", async () => {
    const res = await fetch(`${base}/trpc/usage.ingest`, {
      method: "POST",
      headers: { "x-api-key": "test-admin-key", "content-type": "application/json" },
      body: JSON.stringify({ events: [ev("trpc-1", agentA.id), { id: "trpc-2" }] }),
    }).then((r) => r.json() as Promise<any>);
    expect(res.result.data).toMatchObject({ accepted: 1, rejected: [{ index: 1, id: "trpc-2", code: "invalid" }] });
  });
});

describe("one tenant cannot rewrite another tenant's bill by backdating", () => {
  test("an Alpha-scoped write key's backdated rate or status change into the agent's time in Beta is a 400 naming the bound; Beta's bill and audit log stay as they were", async () => {
    const JAN = "2024-01-01T00:00:00Z";
    const alpha = (await api.post("/api/organizations", { name: "Backdate Alpha", billing_rate_per_agent: "50.00", created_at: JAN })).body;
    const beta = (await api.post("/api/organizations", { name: "Backdate Beta", billing_rate_per_agent: "70.00", created_at: JAN })).body;
    const agent = (await api.post("/api/agents", { name: "Backdate Mover", org_id: beta.id, created_at: JAN })).body;
    expect((await api.post(`/api/agents/${agent.id}/assign-org`, { orgId: alpha.id, effective_at: "2024-06-01T00:00:00Z" })).status).toBe(200);
    const alphaKey = client(base, (await makeKey(database, "write", alpha.id)).key);
    const betaMarch = () => api.get(`/api/organizations/${beta.id}/billing?from=2024-03&to=2024-03`);
    const betaAudit = () => api.get(`/api/audit?org=${beta.id}`);
    const [billBefore, auditBefore] = [await betaMarch(), await betaAudit()];
    expect(billBefore.body.records).toMatchObject([{ agent_id: agent.id, rate: "70.00", rate_source: "default", revenue: "70.00" }]);

    for (const body of [{ billingRate: "1.00" }, { status: "archived" }]) {
      const res = await alphaKey.patch(`/api/agents/${agent.id}`, { ...body, effective_at: "2024-03-01T00:00:00Z" });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ path: "effective_at", message: "must not be before the start of the agent's current assignment (2024-06-01T00:00:00.000Z)" }]);
    }
    expect(await betaMarch()).toMatchObject({ status: 200, body: billBefore.body });
    expect((await betaAudit()).body.events).toEqual(auditBefore.body.events);
    expect((await api.get(`/api/agents/${agent.id}`)).body).toMatchObject({ billing_rate: null, status: "active" });
  });
});
