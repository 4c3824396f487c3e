import { describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { Webhook as Verifier } from "standardwebhooks";
import { rows } from "../../db/client";
import { budgetAlerts } from "../../db/schema";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { client } from "../support/http";
import { type ServerProcess, spawnServer } from "../support/process";
import { type Received, startReceiver } from "../support/webhook-receiver";
import { waitFor } from "../support/wait";

/**
 * Budget alerts fire exactly once per budget, month and threshold (docs/guardrails.md, "Alerts")
 * with real server processes: usage ingested through two instances at once, every batch sent twice
 * (once through each), and a server killed between the crossing and the delivery of its webhook.
 * Every delivery is verified with the `standardwebhooks` package. Two processes share one
 * database only on PostgreSQL (an embedded PGlite belongs to one process).
 */
const KEY = "budget-alerts-admin-key";
const database = TEST_DB_KIND === "postgres" ? await testDatabase() : undefined;
const env = () => ({
  DATABASE_URL: database!.url!,
  ADMIN_API_KEY: KEY,
  SECRETS_KEY: "b".repeat(64),
  WEBHOOK_ALLOW_PRIVATE: "1",
  WEBHOOK_TIMEOUT_MS: "1000",
  // The retry schedule in fifths of a second: 5 s becomes 1 s.
  WEBHOOK_RETRY_UNIT_MS: "200",
  JOB_POLL_INTERVAL_MS: "100",
  WEB_DIR: "",
});

/** Events of `agentId` costing `cost` USD each, with ids that are the same on every call with the same `tag`. */
const batch = (tag: string, agentId: string, n: number, cost: string) =>
  Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, agent_id: agentId, model: "budget-model", input_tokens: 10, output_tokens: 10, cost_usd: cost }));

const crossings = (secret: string, received: Received[]) =>
  received.map((r) => ({ id: r.headers["webhook-id"]!, event: new Verifier(secret).verify(r.body, r.headers) as { type: string; data: { alert: { threshold_pct: number; budget_id: string } } } }));

describe.skipIf(TEST_DB_KIND !== "postgres")("budget alerts across server instances", () => {
  test(
    "ingestion through two instances at once, every batch sent through both, fires each threshold exactly once with one webhook each",
    async () => {
      const receiver = startReceiver();
      let a: ServerProcess | undefined;
      let b: ServerProcess | undefined;
      try {
        [a, b] = await Promise.all([spawnServer(env()), spawnServer(env())]);
        const [ca, cb] = [client(a.base, KEY), client(b.base, KEY)];
        const hook = await ca.post("/api/webhooks", { url: receiver.url, event_types: ["budget.threshold_crossed"] });
        expect(hook.status).toBe(201);
        const org = (await ca.post("/api/organizations", { name: "Parallel Spender" })).body;
        const agents = await Promise.all([0, 1].map(async (i) => (await cb.post("/api/agents", { name: `Spender ${i}`, org_id: org.id })).body));
        const budget = await cb.post("/api/budgets", { org_id: org.id, kind: "cost_usd", amount: "10", thresholds_pct: [50, 80, 100] });
        expect(budget.status).toBe(201);

        // 40 batches of 3 events at 0.125 USD (15 USD in all), each sent through both instances at once.
        const sends = Array.from({ length: 40 }, (_, k) => ({ events: batch(`par-${k}`, agents[k % 2]!.id, 3, "0.125") }));
        const replies = await Promise.all(sends.flatMap((body) => [ca.post("/api/usage", body), cb.post("/api/usage", body)]));
        expect(replies.every((r) => r.status === 200)).toBe(true);
        expect(replies.reduce((n, r) => n + r.body.accepted, 0)).toBe(120);
        expect(replies.reduce((n, r) => n + r.body.duplicates, 0)).toBe(120);

        await waitFor("three alert webhooks", () => receiver.received.length >= 3, 30_000);
        // Anything that would fire twice has had time to: evaluations are queued within milliseconds.
        await Bun.sleep(1500);
        const got = crossings(hook.body.secret, receiver.received);
        expect(got.map((g) => g.event.data.alert.threshold_pct).sort((x, y) => x - y)).toEqual([50, 80, 100]);
        expect(new Set(got.map((g) => g.id)).size).toBe(3);
        const stored = await database!.db.select().from(budgetAlerts).where(eq(budgetAlerts.budgetId, budget.body.id));
        expect(stored.map((s) => s.thresholdPct).sort((x, y) => x - y)).toEqual([50, 80, 100]);
        const listed = await cb.get(`/api/alerts?org=${org.id}`);
        expect([listed.body.unread_count, listed.body.alerts.length]).toEqual([3, 3]);
      } finally {
        await Promise.all([a, b].map(async (p) => p?.proc.kill("SIGKILL")));
        receiver.stop();
      }
    },
    120_000,
  );

  test(
    "a server killed after the crossing and before the delivery: the next one delivers the alert once, with the same webhook-id, and re-sent events fire nothing",
    async () => {
      let accept = false;
      const receiver = startReceiver(() => new Response(accept ? "ok" : "not yet", { status: accept ? 200 : 503 }));
      let first: ServerProcess | undefined;
      let second: ServerProcess | undefined;
      try {
        first = await spawnServer(env());
        const api = client(first.base, KEY);
        const hook = await api.post("/api/webhooks", { url: receiver.url, event_types: ["budget.threshold_crossed"] });
        const org = (await api.post("/api/organizations", { name: "Restarted Spender" })).body;
        const agent = (await api.post("/api/agents", { name: "Restarted Agent", org_id: org.id })).body;
        const budget = (await api.post("/api/budgets", { org_id: org.id, kind: "cost_usd", amount: "1", thresholds_pct: [100] })).body;
        const events = { events: batch("restart", agent.id, 4, "0.25") };
        expect((await api.post("/api/usage", events)).body.accepted).toBe(4);

        // The crossing is committed (alert and event) and its first attempt has failed: kill the server now.
        await waitFor("the first, refused attempt", () => receiver.received.length >= 1, 30_000);
        first.proc.kill("SIGKILL");
        expect(await first.exited(10_000)).not.toBeNull();
        const [alertRow] = await rows<{ n: number }>(database!.db, sql`select count(*)::int as n from ${budgetAlerts} where ${budgetAlerts.budgetId} = ${budget.id}`);
        expect(alertRow!.n).toBe(1);
        accept = true;

        second = await spawnServer(env());
        const api2 = client(second.base, KEY);
        expect((await api2.post("/api/usage", events)).body).toMatchObject({ accepted: 0, duplicates: 4 });
        await waitFor("a successful delivery", async () => {
          const log = await api2.get(`/api/webhooks/${hook.body.id}/deliveries`);
          return log.body.deliveries?.some((d: { status: string }) => d.status === "succeeded") ? true : null;
        }, 60_000);
        await Bun.sleep(1000);
        const got = crossings(hook.body.secret, receiver.received);
        // Every attempt carries the one event's id; there is one event.
        expect(new Set(got.map((g) => g.id)).size).toBe(1);
        expect(got.every((g) => g.event.data.alert.budget_id === budget.id && g.event.data.alert.threshold_pct === 100)).toBe(true);
        const [after] = await rows<{ n: number }>(database!.db, sql`select count(*)::int as n from ${budgetAlerts} where ${budgetAlerts.budgetId} = ${budget.id}`);
        expect(after!.n).toBe(1);
      } finally {
        await Promise.all([first, second].map(async (p) => p?.proc.kill("SIGKILL")));
        receiver.stop();
      }
    },
    120_000,
  );
});
