import { describe, expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";
import { monthOf } from "../../server/shared/time";

/**
 * The insights over REST (docs/api.md): figures as decimal strings, bad input as problem+json with
 * field errors. The figures themselves are computed by hand in tests/service/insights.test.ts.
 */
const database = await testDatabase();
const { api } = startTestServer(database);

describe("REST insights", () => {
  test("GET /api/organizations/{id}/insights and POST …/what-if answer with decimal strings", async () => {
    const org = await api.post("/api/organizations", { name: "Insightful", billing_rate_per_agent: "30.00", created_at: "2025-01-01T00:00:00Z" });
    const agent = await api.post("/api/agents", { name: "Counter", org_id: org.body.id, created_at: "2025-01-01T00:00:00Z" });
    // 3 000 tokens for 0.60 USD in March 2025 (31 days, whole month at 30.00)
    const usage = await api.post("/api/usage", { id: "rest-insight-1", agent_id: agent.body.id, model: "rest-model", input_tokens: 2000, output_tokens: 1000, cost_usd: "0.60", occurred_at: "2025-03-05T00:00:00Z" });
    expect(usage.body.accepted).toBe(1);

    const march = await api.get(`/api/organizations/${org.body.slug}/insights?month=2025-03&margin_floor_pct=50`);
    expect(march.status).toBe(200);
    expect(march.body.agents).toEqual([
      expect.objectContaining({
        allowance: "15.00", // (1 − 50 ÷ 100) × 30.00
        allowance_usd: "15.0000",
        cost_usd: "0.6000",
        share_used_pct: "4.0", // 0.60 ÷ 15 × 100
        blended_price_per_m: "200.000000", // 0.60 ÷ 3 000 × 1e6
        allowance_tokens: 75_000, // 15 × 3 000 ÷ 0.60
        remaining_tokens: 72_000,
      }),
    ]);

    const whatIf = await api.post(`/api/organizations/${org.body.id}/what-if`, { month: "2025-03", rate: 10 });
    expect(whatIf.status).toBe(200);
    // 10.00 − 0.60 = 9.40; 9.40 ÷ 10 = 94.0 %; actual 30.00 − 0.60 = 29.40, 98.0 %
    expect(whatIf.body.actual).toEqual({ revenue: "30.00", cost_usd: "0.6000", cost: "0.60", margin: "29.40", margin_pct: "98.0" });
    expect(whatIf.body.what_if).toEqual({ revenue: "10.00", cost_usd: "0.6000", cost: "0.60", margin: "9.40", margin_pct: "94.0" });
  });

  test("bad input is a 400 problem naming each field; an unknown organization a 404", async () => {
    const org = await api.post("/api/organizations", { name: "Insight errors" });
    const current = await api.post(`/api/organizations/${org.body.id}/what-if`, { month: monthOf(new Date()), rate: "5" });
    expect(current.status).toBe(400);
    expect(current.headers.get("content-type")).toContain("application/problem+json");
    expect(current.body.errors).toEqual([{ path: "month", message: expect.stringContaining("past month") }]);

    const bad = await api.post(`/api/organizations/${org.body.id}/what-if`, { month: "2025-13", rate: "-1", extra: true });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["extra", "month", "rate"]);

    const none = await api.post(`/api/organizations/${org.body.id}/what-if`, { month: "2025-03" });
    expect(none.body.errors).toEqual([{ path: "model", message: "give a model, a rate, or both" }]);

    const floor = await api.get(`/api/organizations/${org.body.id}/insights?margin_floor_pct=101`);
    expect(floor.status).toBe(400);
    expect(floor.body.errors[0].path).toBe("margin_floor_pct");

    const unknown = await api.get(`/api/organizations/${crypto.randomUUID()}/insights`);
    expect(unknown.status).toBe(404);
  });
});
