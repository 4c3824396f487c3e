import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { createApp } from "../../server/app";
import { createMetrics } from "../../server/observability/metrics";
import { TEST_CONFIG } from "../support/actors";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { ADMIN_KEY, client, startTestServer } from "../support/http";
import { noteSecret } from "../support/log-capture";
import { delta, scrape, series } from "../support/metrics";

/**
 * GET /metrics (docs/operations.md, Metrics): a known workload moves the counters by exactly that
 * workload, series are labelled by route template (never a raw id), and the endpoint is closed
 * without the token and absent when none is configured.
 */
const TOKEN = "metrics-token-for-the-test";
noteSecret(TOKEN, "METRICS_TOKEN");
const database = await testDatabase();
const metrics = createMetrics(database);
const app = createApp({ database, config: { ...TEST_CONFIG, metricsToken: TOKEN }, metrics });
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req, srv) => app.fetch(req, { server: srv }) });
afterAll(() => server.stop(true));
const base = `http://127.0.0.1:${server.port}`;
const api = client(base, ADMIN_KEY);

/** Sends raw HTTP/1.1 and resolves with the answer when the server closes. */
const rawRequest = (text: string) =>
  new Promise<string>((resolve) => {
    let answer = "";
    void Bun.connect({
      hostname: "127.0.0.1",
      port: server.port!,
      socket: {
        open: (socket) => void socket.write(text),
        data: (_socket, data) => void (answer += data.toString()),
        close: () => resolve(answer),
      },
    });
  });

describe("GET /metrics", () => {
  test("answers 401 without the bearer token or with a wrong one, and 404 when no token is configured", async () => {
    const denied = await fetch(`${base}/metrics`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("content-type")).toBe("application/problem+json");
    expect(denied.headers.get("x-request-id")).toBeTruthy();
    expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer wrong-token-entirely" } })).status).toBe(401);
    // The API key is not the metrics token.
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(401);
    const off = startTestServer(database);
    expect((await fetch(`${off.base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  test("a known workload moves request, latency and ingestion counters by exactly that workload", async () => {
    const org = (await api.post("/api/organizations", { name: "Metrics Co", created_at: "2025-01-01T00:00:00Z" })).body;
    const other = (await api.post("/api/organizations", { name: "Metrics Other Co" })).body;
    const agent = (await api.post("/api/agents", { name: "Metrics Agent", org_id: org.id, created_at: "2025-01-01T00:00:00Z" })).body;
    const events = Array.from({ length: 5 }, (_, i) => ({ id: `metrics-${i}`, agent_id: agent.id, model: "gpt-4o", input_tokens: 10, output_tokens: 1, occurred_at: "2025-03-01T00:00:00Z" }));

    const before = await scrape(base, TOKEN);
    // 3 reads of two organizations by id, 1 unknown id, 2 tRPC list queries, 3 ingestion calls.
    for (const id of [org.id, other.id, org.id]) expect((await api.get(`/api/organizations/${id}`)).status).toBe(200);
    expect((await api.get(`/api/organizations/${crypto.randomUUID()}`)).status).toBe(404);
    for (let i = 0; i < 2; i++) expect((await api.get("/trpc/orgs.list?input=%7B%7D")).status).toBe(200);
    const first = await api.post("/api/usage", { events });
    expect(first.body.accepted).toBe(5);
    const again = await api.post("/api/usage", { events: [...events, { id: "metrics-bad", agent_id: agent.id }] });
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 5 });
    expect(again.body.rejected).toHaveLength(1);
    const conflict = await api.post("/api/usage", { events: [{ ...events[0], output_tokens: 2 }] });
    expect(conflict.body.rejected).toHaveLength(1);
    const after = await scrape(base, TOKEN);

    const requests = (method: string, route: string, status: number) => delta(before, after, "orgdesk_http_requests_total", { method, route, status: String(status) });
    expect(requests("GET", "/api/organizations/:id", 200)).toBe(3);
    expect(requests("GET", "/api/organizations/:id", 404)).toBe(1);
    expect(requests("GET", "/trpc/orgs.list", 200)).toBe(2);
    expect(requests("POST", "/api/usage", 200)).toBe(3);
    // The first scrape is counted once it has answered.
    expect(requests("GET", "/metrics", 200)).toBe(1);
    expect(delta(before, after, "orgdesk_http_request_duration_seconds_count", { method: "GET", route: "/api/organizations/:id" })).toBe(4);
    expect(delta(before, after, "orgdesk_http_request_duration_seconds_bucket", { method: "GET", route: "/api/organizations/:id", le: "+Inf" })).toBe(4);
    expect(delta(before, after, "orgdesk_http_request_duration_seconds_sum", { method: "GET", route: "/api/organizations/:id" })).toBeGreaterThan(0);
    const ingested = (outcome: string) => delta(before, after, "orgdesk_usage_events_total", { source: "api", outcome });
    expect([ingested("accepted"), ingested("duplicate"), ingested("rejected")]).toEqual([5, 5, 2]);

    // Nothing else moved: every request series that changed is one of the above.
    const moved = [...after.keys()].filter((k) => k.startsWith("orgdesk_http_requests_total") && (after.get(k) ?? 0) !== (before.get(k) ?? 0));
    expect(moved.sort()).toEqual(
      [
        series("orgdesk_http_requests_total", { method: "GET", route: "/api/organizations/:id", status: "200" }),
        series("orgdesk_http_requests_total", { method: "GET", route: "/api/organizations/:id", status: "404" }),
        series("orgdesk_http_requests_total", { method: "GET", route: "/trpc/orgs.list", status: "200" }),
        series("orgdesk_http_requests_total", { method: "POST", route: "/api/usage", status: "200" }),
        series("orgdesk_http_requests_total", { method: "GET", route: "/metrics", status: "200" }),
      ].sort(),
    );
    // Route templates only: no id ever becomes a label.
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    for (const id of [org.id, other.id, agent.id]) expect(text).not.toContain(id);
  });

  test("unknown paths, tRPC procedures and methods share one series each instead of one per value", async () => {
    const before = await scrape(base, TOKEN);
    const statuses: number[] = [];
    for (const path of ["/api/nothing/1", "/api/nothing/2", "/trpc/no.such.procedure", "/trpc/orgs.list,orgs.list?batch=1&input=" + encodeURIComponent('{"0":{},"1":{}}')]) statuses.push((await api.get(path)).status);
    // fetch sends only the usual methods; other ones the server accepts arrive over a raw socket.
    for (const method of ["PROPFIND", "M-SEARCH"]) await rawRequest(`${method} /api/organizations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const after = await scrape(base, TOKEN);
    expect(delta(before, after, "orgdesk_http_requests_total", { method: "GET", route: "/api/(unknown)", status: "404" })).toBe(2);
    // Any method token a client invents is one label.
    const other = [...after.keys()].filter((k) => k.startsWith("orgdesk_http_requests_total") && k.includes('method="OTHER"'));
    expect(other.reduce((n, k) => n + (after.get(k) ?? 0) - (before.get(k) ?? 0), 0)).toBe(2);
    expect([...after.keys()].some((k) => k.includes("PROPFIND") || k.includes("M-SEARCH"))).toBe(false);
    expect(delta(before, after, "orgdesk_http_requests_total", { method: "GET", route: "/trpc/(unknown)", status: "404" })).toBe(1);
    expect(delta(before, after, "orgdesk_http_requests_total", { method: "GET", route: "/trpc/(batch)", status: String(statuses[3]) })).toBe(1);
    expect(statuses[3]).toBe(200);
  });

  test.skipIf(TEST_DB_KIND !== "postgres")("database pool gauges show statements in flight and open transactions while they run", async () => {
    const idle = await scrape(base, TOKEN);
    expect(idle.get(series("orgdesk_db_pool_size", { database: "primary" }))).toBe(10);
    expect(idle.get(series("orgdesk_db_queries_in_flight", { database: "primary" }))).toBe(0);
    expect(idle.get(series("orgdesk_db_transactions_open", { database: "primary" }))).toBe(0);

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = database.db.transaction(async (t) => {
      await t.execute(sql`select 1`);
      await held;
    });
    const sleeps = Promise.all([0, 1, 2].map(() => database.db.execute(sql`select pg_sleep(0.5)`)));
    await Bun.sleep(150);
    const busy = await scrape(base, TOKEN);
    // Three sleeps running outside transactions; the scrape's own statements are none (it reads no table).
    expect(busy.get(series("orgdesk_db_queries_in_flight", { database: "primary" }))).toBe(3);
    expect(busy.get(series("orgdesk_db_transactions_open", { database: "primary" }))).toBe(1);
    release();
    await Promise.all([tx, sleeps]);
    const done = await scrape(base, TOKEN);
    expect(done.get(series("orgdesk_db_queries_in_flight", { database: "primary" }))).toBe(0);
    expect(done.get(series("orgdesk_db_transactions_open", { database: "primary" }))).toBe(0);
  });

  test("job queue gauges read the registered function at each scrape; job runs and webhook deliveries are counted by result", async () => {
    let depth = 3;
    metrics.observeJobQueue(async () => [
      { kind: "invoice.close", depth, lagSeconds: 12.5 },
      { kind: "webhook.deliver", depth: 0, lagSeconds: 0 },
    ]);
    const first = await scrape(base, TOKEN);
    expect(first.get(series("orgdesk_job_queue_depth", { kind: "invoice.close" }))).toBe(3);
    expect(first.get(series("orgdesk_job_queue_lag_seconds", { kind: "invoice.close" }))).toBe(12.5);
    expect(first.get(series("orgdesk_job_queue_depth", { kind: "webhook.deliver" }))).toBe(0);
    depth = 1;
    metrics.webhookDelivery("delivered");
    metrics.webhookDelivery("delivered");
    metrics.webhookDelivery("failed");
    metrics.jobRun("invoice.close", "succeeded");
    const second = await scrape(base, TOKEN);
    expect(second.get(series("orgdesk_job_queue_depth", { kind: "invoice.close" }))).toBe(1);
    expect(delta(first, second, "orgdesk_webhook_deliveries_total", { result: "delivered" })).toBe(2);
    expect(delta(first, second, "orgdesk_webhook_deliveries_total", { result: "failed" })).toBe(1);
    expect(delta(first, second, "orgdesk_job_runs_total", { kind: "invoice.close", result: "succeeded" })).toBe(1);
    // A queue that cannot be read (database down) costs its series, not the scrape.
    metrics.observeJobQueue(async () => {
      throw new Error("database unreachable");
    });
    const third = await scrape(base, TOKEN);
    expect(delta(second, third, "orgdesk_metrics_collect_errors_total", { series: "job_queue" })).toBe(1);
  });
});
