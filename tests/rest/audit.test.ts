import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { restRoutes } from "../../server/rest/routes";
import { appRouter } from "../../server/trpc/router";
import { call, makeKey, makeUser, PASSWORD, type Reply, signIn, trpc, uniqueEmail } from "../support/access";
import { ctxFor, platformKey } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { webhookCreateInput } from "../../server/modules/webhooks/schema";
import * as webhooks from "../../server/modules/webhooks/service";
import { budgetCreateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import * as usage from "../../server/modules/usage/service";
import * as invoices from "../../server/modules/invoices/service";
import { standardLoggingPayload } from "../support/fixtures/litellm";
import { startTestServer } from "../support/http";

const database = await testDatabase();
const { base } = startTestServer(database);
const emptyDatabase = await testDatabase();
const { base: emptyBase } = startTestServer(emptyDatabase);
const platform = ctxFor(database, platformKey);
const ownerUser = await makeUser(database, "owner");
const owner = { cookie: (await signIn(base, ownerUser.email, ownerUser.password)).cookie };
const env = { key: "test-admin-key" };

interface Entry {
  id: string;
  action: string;
  org_id: string | null;
  target_type: string;
  target_id: string | null;
  actor_kind: string;
  actor_label: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  request_id: string | null;
}

async function entriesAfter(db: typeof database, id: number): Promise<Entry[]> {
  return rows<Entry>(db.db, sql`select id::text, action, org_id, target_type, target_id, actor_kind, actor_label, before, after, request_id from audit_log where id > ${id} order by id`);
}
async function lastId(db: typeof database): Promise<number> {
  const [row] = await rows<{ id: number | null }>(db.db, sql`select max(id)::int as id from audit_log`);
  return row?.id ?? 0;
}

interface Case {
  /** Inventory key: `REST <METHOD> <path>` or `tRPC <procedure>`. */
  key: string;
  db?: typeof database;
  /** Prepares, calls `mark()` just before the change, performs one successful change; returns the entry it must leave. */
  run: (mark: () => Promise<void>) => Promise<{ reply: Reply; expected: Partial<Entry> }>;
}

const orgRate = async () => makeOrg(platform, { billing_rate_per_agent: "10.00" });
/** An organization billing one agent at 10.00 since January 2025: each of its ended months can be finalized once. */
async function billedOrg() {
  const org = await makeOrg(platform, { billing_rate_per_agent: "10.00", created_at: "2025-01-01T00:00:00Z" });
  await makeAgent(platform, { org_id: org.id, created_at: "2025-01-01T00:00:00Z" });
  return org;
}
const hook = async () => webhooks.create({ ctx: platform, input: webhookCreateInput.parse({ url: `https://hooks.example.com/audited/${crypto.randomUUID()}` }) });
/** A 10 USD budget on `orgId`; `spent`: with `suspend`, spent past 100 % and evaluated (alerts written, agents suspended). */
async function budgetOn(orgId: string, spent = false) {
  const b = await budgets.create({ ctx: platform, input: budgetCreateInput.parse({ org_id: orgId, kind: "cost_usd", amount: "10", action_at_100: spent ? "suspend" : "notify" }) });
  if (spent) {
    const agent = await makeAgent(platform, { org_id: orgId });
    await usage.ingest({ ctx: platform, input: { events: [{ id: `audited-${crypto.randomUUID()}`, agent_id: agent.id, model: "audited-model", input_tokens: 1, output_tokens: 1, cost_usd: "11" }] } });
    await budgets.evaluate({ ...platform, principal: { kind: "anonymous" } }, { orgId, month: new Date().toISOString().slice(0, 7) });
  }
  return b;
}
const ok = (r: Reply) => {
  expect(r.status).toBeLessThan(300);
  return r;
};

/** Every mutating REST route and tRPC mutation, each with the one entry a successful call must write. */
const cases: Case[] = [
  ...(["REST", "tRPC"] as const).flatMap((t): Case[] => {
    const rest = t === "REST";
    const send = (restCall: () => Promise<Reply>, path: string, input: unknown) => (rest ? restCall() : trpc(base, owner, "mutation", path, input));
    return [
      {
        key: rest ? "REST POST /api/organizations" : "tRPC orgs.create",
        run: async (mark) => {
          const name = `Audited ${crypto.randomUUID().slice(0, 6)}`;
          await mark();
          const reply = ok(await send(() => call(base, owner, "POST", "/api/organizations", { name, billing_rate_per_agent: "10.00" }), "orgs.create", { name, billing_rate_per_agent: "10.00" }));
          return { reply, expected: { action: "organization.create", org_id: reply.body.id, target_id: reply.body.id, before: null, after: reply.body } };
        },
      },
      {
        key: rest ? "REST PATCH /api/organizations/:id" : "tRPC orgs.update",
        run: async (mark) => {
          const org = await orgRate();
          await mark();
          const reply = ok(await send(() => call(base, owner, "PATCH", `/api/organizations/${org.id}`, { name: "Renamed", billing_rate_per_agent: "20.00" }), "orgs.update", { id: org.id, name: "Renamed", billing_rate_per_agent: "20.00" }));
          return {
            reply,
            expected: { action: "organization.rate_change", org_id: org.id, before: { name: org.name, billing_rate_per_agent: "10.00" }, after: { name: "Renamed", billing_rate_per_agent: "20.00" } },
          };
        },
      },
      {
        key: rest ? "REST DELETE /api/organizations/:id" : "tRPC orgs.delete",
        run: async (mark) => {
          const org = await makeOrg(platform);
          await mark();
          const reply = ok(await send(() => call(base, owner, "DELETE", `/api/organizations/${org.id}`), "orgs.delete", { id: org.id }));
          return { reply, expected: { action: "organization.delete", org_id: org.id, before: org, after: null } };
        },
      },
      {
        key: rest ? "REST POST /api/organizations/:id/toggle" : "tRPC orgs.toggle",
        run: async (mark) => {
          const org = await makeOrg(platform);
          await mark();
          const reply = ok(await send(() => call(base, owner, "POST", `/api/organizations/${org.id}/toggle`), "orgs.toggle", { id: org.id }));
          return { reply, expected: { action: "organization.toggle", org_id: org.id, before: { is_active: true }, after: { is_active: false } } };
        },
      },
      {
        key: rest ? "REST POST /api/agents" : "tRPC agents.create",
        run: async (mark) => {
          const org = await makeOrg(platform);
          const name = `Audited agent ${crypto.randomUUID().slice(0, 6)}`;
          await mark();
          const reply = ok(await send(() => call(base, owner, "POST", "/api/agents", { name, org_id: org.id }), "agents.create", { name, org_id: org.id }));
          return { reply, expected: { action: "agent.create", org_id: org.id, target_id: reply.body.id, before: null, after: reply.body } };
        },
      },
      {
        key: rest ? "REST PATCH /api/agents/:id" : "tRPC agents.update",
        run: async (mark) => {
          const org = await orgRate();
          const agent = await makeAgent(platform, { org_id: org.id });
          await mark();
          const reply = ok(await send(() => call(base, owner, "PATCH", `/api/agents/${agent.id}`, { billingRate: "5.00" }), "agents.update", { id: agent.id, billingRate: "5.00" }));
          return {
            reply,
            expected: {
              action: "agent.rate_change",
              org_id: org.id,
              target_id: agent.id,
              before: { billing_rate: null, effective_rate: "10.00", rate_source: "default" },
              after: { billing_rate: "5.00", effective_rate: "5.00", rate_source: "custom" },
            },
          };
        },
      },
      {
        key: rest ? "REST POST /api/agents/:id/assign-org" : "tRPC agents.assign",
        run: async (mark) => {
          const from = await makeOrg(platform);
          const to = await makeOrg(platform);
          const agent = await makeAgent(platform, { org_id: from.id });
          await mark();
          const reply = ok(await send(() => call(base, owner, "POST", `/api/agents/${agent.id}/assign-org`, { orgId: to.slug }), "agents.assign", { id: agent.id, orgId: to.slug }));
          return { reply, expected: { action: "agent.assign", org_id: to.id, target_id: agent.id, before: { org_id: from.id, billing_rate: null }, after: { org_id: to.id, billing_rate: null } } };
        },
      },
      {
        key: rest ? "REST POST /api/agents/:id/unassign-org" : "tRPC agents.unassign",
        run: async (mark) => {
          const from = await makeOrg(platform);
          const agent = await makeAgent(platform, { org_id: from.id });
          await mark();
          const reply = ok(await send(() => call(base, owner, "POST", `/api/agents/${agent.id}/unassign-org`), "agents.unassign", { id: agent.id }));
          return { reply, expected: { action: "agent.unassign", org_id: reply.body.orgId, target_id: agent.id, before: { org_id: from.id, billing_rate: null }, after: { org_id: reply.body.orgId, billing_rate: null } } };
        },
      },
    ];
  }),
  ...(["REST", "tRPC"] as const).flatMap((t): Case[] => {
    const rest = t === "REST";
    const send = (method: string, restPath: string, procedure: string, input: unknown) => (rest ? call(base, env, method, restPath, input) : trpc(base, env, "mutation", procedure, input));
    return [
      {
        key: rest ? "REST POST /api/usage" : "tRPC usage.ingest",
        run: async (mark) => {
          const agent = await makeAgent(platform);
          const events = [
            { id: `audit-${crypto.randomUUID()}`, agent_id: agent.id, model: "audit-model", input_tokens: 10, output_tokens: 5, cost_usd: "0.01" },
            { id: `audit-${crypto.randomUUID()}`, agent_id: agent.id, model: "audit-unpriced", input_tokens: 10, output_tokens: 5 },
            { id: "bad", agent_id: crypto.randomUUID(), model: "x", input_tokens: 1, output_tokens: 1 },
          ];
          await mark();
          const reply = ok(await send("POST", "/api/usage", "usage.ingest", { events }));
          expect(reply.body.accepted).toBe(2);
          return { reply, expected: { action: "usage.ingest", org_id: null, target_type: "usage", before: null, after: { accepted: 2, unpriced: 1 } } };
        },
      },
      {
        key: rest ? "REST POST /api/integrations/otel/attribute" : "tRPC integrations.attributeSpans",
        run: async (mark) => {
          const agent = await makeAgent(platform, { created_at: "2025-01-01T00:00:00Z" });
          const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
          const [traceId, spanId] = [hex(16), hex(8)];
          const event = { id: `otel:${traceId}:${spanId}`, model: "audit-model", provider: null, occurred_at: "2025-06-01T00:00:00Z", input_tokens: 10, output_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0 };
          await database.db.execute(sql`insert into otel_pending_spans (trace_id, span_id, event, received_at) values (${traceId}, ${spanId}, ${JSON.stringify(event)}, now() - interval '1 hour')`);
          await mark();
          const reply = ok(await send("POST", "/api/integrations/otel/attribute", "integrations.attributeSpans", { trace_id: traceId, agent_id: agent.id }));
          expect(reply.body.accepted).toBe(1);
          return {
            reply,
            expected: { action: "usage.attribute", org_id: null, target_type: "otel_trace", target_id: traceId, before: null, after: { agent_id: agent.id, span_ids: [spanId], accepted: 1, duplicates: 0, rejected: 0 } },
          };
        },
      },
      {
        key: rest ? "REST POST /api/usage/reprice" : "tRPC usage.reprice",
        run: async (mark) => {
          await mark();
          const reply = ok(await send("POST", "/api/usage/reprice", "usage.reprice", { from: "2025-01-01", to: "2025-01-31" }));
          return { reply, expected: { action: "usage.reprice", org_id: null, before: null, after: { from: "2025-01-01", to: "2025-01-31", model: null } } };
        },
      },
      {
        key: rest ? "REST PUT /api/model-prices" : "tRPC prices.put",
        run: async (mark) => {
          const model = `audit-model-${t.toLowerCase()}`;
          const entry = (input: string) => ({ model, effective_from: "2025-02-01", input_per_m: input, output_per_m: "4" });
          ok(await send("PUT", "/api/model-prices", "prices.put", { prices: [entry("1")] }));
          await mark();
          const reply = ok(await send("PUT", "/api/model-prices", "prices.put", { prices: [entry("2")] }));
          return {
            reply,
            expected: {
              action: "prices.update",
              before: { prices: [{ model, provider: null, effective_from: "2025-02-01", input_per_m: "1", output_per_m: "4", cache_read_per_m: null, cache_write_per_m: null }] },
              after: { prices: [entry("2")], priced: 0 },
            },
          };
        },
      },
      {
        key: rest ? "REST PUT /api/fx-rates" : "tRPC prices.fxPut",
        run: async (mark) => {
          const day = rest ? "2025-03-01" : "2025-03-02";
          ok(await send("PUT", "/api/fx-rates", "prices.fxPut", { rates: [{ currency: "GBP", effective_from: day, rate: "0.8" }] }));
          await mark();
          const reply = ok(await send("PUT", "/api/fx-rates", "prices.fxPut", { rates: [{ currency: "GBP", effective_from: day, rate: "0.81" }] }));
          return {
            reply,
            expected: { action: "fx.update", before: { rates: [{ currency: "GBP", effective_from: day, rate: "0.8" }] }, after: { rates: [{ currency: "GBP", effective_from: day, rate: "0.81" }] } },
          };
        },
      },
      {
        key: rest ? "REST POST /api/webhooks" : "tRPC webhooks.create",
        run: async (mark) => {
          const url = `https://hooks.example.com/new/${crypto.randomUUID()}`;
          await mark();
          const reply = ok(await send("POST", "/api/webhooks", "webhooks.create", { url }));
          return { reply, expected: { action: "webhook.create", org_id: null, target_id: reply.body.id, before: null, after: { url, description: null, event_types: null, enabled: true } } };
        },
      },
      {
        key: rest ? "REST PATCH /api/webhooks/:id" : "tRPC webhooks.update",
        run: async (mark) => {
          const h = await hook();
          const change = { enabled: false, event_types: ["agent.created"] };
          await mark();
          const reply = ok(await (rest ? call(base, env, "PATCH", `/api/webhooks/${h.id}`, change) : trpc(base, env, "mutation", "webhooks.update", { id: h.id, ...change })));
          return { reply, expected: { action: "webhook.update", target_id: h.id, before: { enabled: true, event_types: null }, after: { enabled: false, event_types: ["agent.created"] } } };
        },
      },
      {
        key: rest ? "REST DELETE /api/webhooks/:id" : "tRPC webhooks.delete",
        run: async (mark) => {
          const h = await hook();
          await mark();
          const reply = ok(await send("DELETE", `/api/webhooks/${h.id}`, "webhooks.delete", { id: h.id }));
          return { reply, expected: { action: "webhook.delete", target_id: h.id, before: { url: h.url, description: null, event_types: null, enabled: true }, after: null } };
        },
      },
      {
        key: rest ? "REST POST /api/webhooks/:id/rotate-secret" : "tRPC webhooks.rotateSecret",
        run: async (mark) => {
          const h = await hook();
          await mark();
          const reply = ok(await send("POST", `/api/webhooks/${h.id}/rotate-secret`, "webhooks.rotateSecret", { id: h.id }));
          return { reply, expected: { action: "webhook.rotate", target_id: h.id, before: null, after: { old_signature_until: reply.body.previous_secret_expires_at } } };
        },
      },
      {
        key: rest ? "REST POST /api/webhooks/:id/test" : "tRPC webhooks.test",
        run: async (mark) => {
          const h = await hook();
          await mark();
          const reply = ok(await send("POST", `/api/webhooks/${h.id}/test`, "webhooks.test", { id: h.id }));
          return { reply, expected: { action: "webhook.test", target_id: h.id, after: { event_id: reply.body.event_id } } };
        },
      },
      {
        key: rest ? "REST POST /api/webhooks/deliveries/:id/retry" : "tRPC webhooks.retry",
        run: async (mark) => {
          const h = await hook();
          const delivery = await webhooks.sendTest({ ctx: platform, input: { id: h.id } });
          await mark();
          const reply = ok(await send("POST", `/api/webhooks/deliveries/${delivery.id}/retry`, "webhooks.retry", { id: delivery.id }));
          return { reply, expected: { action: "webhook.retry", target_type: "webhook_delivery", target_id: delivery.id, after: { event_id: delivery.event_id, endpoint_id: h.id } } };
        },
      },
      {
        key: rest ? "REST POST /api/budgets" : "tRPC budgets.create",
        run: async (mark) => {
          const org = await makeOrg(platform);
          const input = { org_id: org.id, kind: "cost_usd", amount: "250", action_at_100: "suspend" };
          await mark();
          const reply = ok(await send("POST", "/api/budgets", "budgets.create", input));
          return {
            reply,
            expected: { action: "budget.create", org_id: org.id, target_type: "budget", target_id: reply.body.id, before: null, after: { kind: "cost_usd", amount_usd: "250.00", thresholds_pct: [50, 80, 100], action_at_100: "suspend", agent_id: null } },
          };
        },
      },
      {
        key: rest ? "REST PATCH /api/budgets/:id" : "tRPC budgets.update",
        run: async (mark) => {
          const b = await budgetOn((await makeOrg(platform)).id);
          await mark();
          const reply = ok(await send("PATCH", `/api/budgets/${b.id}`, "budgets.update", { ...(rest ? {} : { id: b.id }), amount: "12.5", thresholds_pct: [90] }));
          return { reply, expected: { action: "budget.update", target_id: b.id, before: { amount_usd: "10.00", thresholds_pct: [50, 80, 100] }, after: { amount_usd: "12.50", thresholds_pct: [90] } } };
        },
      },
      {
        key: rest ? "REST DELETE /api/budgets/:id" : "tRPC budgets.delete",
        run: async (mark) => {
          const org = await makeOrg(platform);
          const b = await budgetOn(org.id);
          await mark();
          const reply = ok(await send("DELETE", `/api/budgets/${b.id}`, "budgets.delete", { id: b.id }));
          return { reply, expected: { action: "budget.delete", org_id: org.id, target_id: b.id, before: { kind: "cost_usd", amount_usd: "10.00" }, after: null } };
        },
      },
      {
        key: rest ? "REST POST /api/budgets/:id/lift-suspension" : "tRPC budgets.liftSuspension",
        run: async (mark) => {
          const org = await makeOrg(platform);
          const b = await budgetOn(org.id, true);
          await mark();
          const reply = ok(await send("POST", `/api/budgets/${b.id}/lift-suspension`, "budgets.liftSuspension", { id: b.id }));
          return { reply, expected: { action: "budget.resume", org_id: org.id, target_id: b.id, after: { month: new Date().toISOString().slice(0, 7), reason: "staff" } } };
        },
      },
      {
        key: rest ? "REST POST /api/alerts/:id/read" : "tRPC alerts.read",
        run: async (mark) => {
          const org = await makeOrg(platform);
          const b = await budgetOn(org.id, true);
          const [alert] = await rows<{ id: string }>(database.db, sql`select id::text as id from budget_alerts where budget_id = ${b.id} limit 1`);
          await mark();
          const reply = ok(await send("POST", `/api/alerts/${alert!.id}/read`, "alerts.read", { id: alert!.id }));
          return { reply, expected: { action: "alert.read", org_id: org.id, target_type: "alert", target_id: alert!.id, before: { read_at: null }, after: { read_at: reply.body.read_at } } };
        },
      },
      {
        key: rest ? "REST POST /api/organizations/:id/invoices/:month/finalize" : "tRPC invoices.finalize",
        run: async (mark) => {
          const org = await billedOrg();
          await mark();
          const reply = ok(await send("POST", `/api/organizations/${org.id}/invoices/2025-02/finalize`, "invoices.finalize", { id: org.id, month: "2025-02" }));
          return { reply, expected: { action: "invoice.finalize", org_id: org.id, target_type: "invoice", target_id: reply.body.id, before: null, after: { number: reply.body.number, total: "10.00" } } };
        },
      },
      {
        key: rest ? "REST POST /api/invoices/:number/void" : "tRPC invoices.void",
        run: async (mark) => {
          const org = await billedOrg();
          const invoice = await invoices.finalize({ ctx: platform, input: { id: org.id, month: "2025-02" } });
          await mark();
          const reply = ok(await send("POST", `/api/invoices/${invoice.number}/void`, "invoices.void", { ...(rest ? {} : { number: invoice.number }), reason: "Audited" }));
          return { reply, expected: { action: "invoice.void", org_id: org.id, target_id: invoice.id, before: { status: "finalized" }, after: { number: invoice.number, status: "void", reason: "Audited" } } };
        },
      },
      {
        key: rest ? "REST PUT /api/settings/invoicing" : "tRPC invoices.settingsPut",
        run: async (mark) => {
          // Each transport sets its own value, so each call is a change.
          const days = rest ? 41 : 42;
          await mark();
          const reply = ok(await send("PUT", "/api/settings/invoicing", "invoices.settingsPut", { payment_terms_days: days }));
          return { reply, expected: { action: "invoicing.settings_update", org_id: null, target_type: "invoicing_settings", after: { payment_terms_days: days } } };
        },
      },
      {
        key: rest ? "REST PUT /api/organizations/:id/invoicing" : "tRPC invoices.orgSettingsPut",
        run: async (mark) => {
          const org = await makeOrg(platform);
          await mark();
          const reply = ok(await send("PUT", `/api/organizations/${org.id}/invoicing`, "invoices.orgSettingsPut", { ...(rest ? {} : { id: org.id }), usage_markup_pct: "20" }));
          return { reply, expected: { action: "organization.invoicing_update", org_id: org.id, target_id: org.id, before: { usage_markup_pct: null }, after: { usage_markup_pct: "20.00" } } };
        },
      },
    ];
  }),
  {
    key: "REST POST /api/integrations/litellm",
    run: async (mark) => {
      const agent = await makeAgent(platform, { external_id: `audited-litellm-${crypto.randomUUID().slice(0, 8)}`, created_at: "2025-01-01T00:00:00Z" });
      const payloads = [
        standardLoggingPayload({ id: `audit-${crypto.randomUUID()}`, alias: agent.external_id }),
        standardLoggingPayload({ id: `audit-${crypto.randomUUID()}`, alias: agent.external_id, status: "failure" }),
      ];
      await mark();
      const reply = ok(await call(base, env, "POST", "/api/integrations/litellm", payloads));
      return { reply, expected: { action: "usage.ingest", org_id: null, target_type: "usage", before: null, after: { accepted: 1 } } };
    },
  },
  {
    key: "REST POST /api/usage/import",
    run: async (mark) => {
      const agent = await makeAgent(platform, { created_at: "2025-01-01T00:00:00Z" });
      const file = `id,agent_id,model,input_tokens,output_tokens,cost_usd\naudit-import-${crypto.randomUUID()},${agent.id},audit-import-model,10,2,0.01\naudit-import-${crypto.randomUUID()},${agent.id},audit-import-model,10,2,\n`;
      await mark();
      const res = await fetch(`${base}/api/usage/import`, { method: "POST", headers: { "x-api-key": env.key, "content-type": "text/csv" }, body: file });
      const reply = ok({ status: res.status, headers: res.headers, body: await res.json(), request: "POST /api/usage/import" });
      // One entry per stored batch, like one per ingestion call.
      return { reply, expected: { action: "usage.import", org_id: null, target_type: "usage", before: null, after: { accepted: 2, unpriced: 1 } } };
    },
  },
  {
    key: "REST POST /api/otel/v1/traces",
    run: async (mark) => {
      const agent = await makeAgent(platform, { external_id: `audited-otel-${crypto.randomUUID().slice(0, 8)}` });
      const id = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
      const end = BigInt(Date.now()) * 1_000_000n;
      const attr = (key: string, value: string | number) => ({ key, value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value } });
      const span = {
        traceId: id(16),
        spanId: id(8),
        name: "chat",
        kind: 3,
        startTimeUnixNano: String(end - 1_000_000_000n),
        endTimeUnixNano: String(end),
        attributes: [attr("gen_ai.operation.name", "chat"), attr("gen_ai.agent.id", agent.external_id!), attr("gen_ai.request.model", "audit-otel-model"), attr("gen_ai.usage.input_tokens", 10), attr("gen_ai.usage.output_tokens", 2)],
        status: {},
      };
      await mark();
      const reply = ok(await call(base, env, "POST", "/api/otel/v1/traces", { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: "audit" }, spans: [span] }] }] }));
      return { reply, expected: { action: "usage.ingest", org_id: null, target_type: "usage", before: null, after: { accepted: 1 } } };
    },
  },
  {
    key: "tRPC auth.setup",
    db: emptyDatabase,
    run: async (mark) => {
      await mark();
      const reply = ok(await trpc(emptyBase, null, "mutation", "auth.setup", { email: "Setup@Example.Test", password: PASSWORD }, { origin: emptyBase }));
      return { reply, expected: { action: "user.setup", org_id: null, actor_kind: "user", actor_label: "setup@example.test", before: null, after: { email: "setup@example.test", role: "owner", org_id: null, is_active: true } } };
    },
  },
  {
    key: "tRPC auth.signIn",
    run: async (mark) => {
      const u = await makeUser(database, "viewer");
      await mark();
      const reply = ok(await trpc(base, null, "mutation", "auth.signIn", { email: u.email, password: u.password }, { origin: base }));
      return { reply, expected: { action: "auth.sign_in", actor_kind: "user", actor_label: u.email, org_id: null, target_type: "session", before: null, after: { user_id: u.id } } };
    },
  },
  {
    key: "tRPC auth.signOut",
    run: async (mark) => {
      const u = await makeUser(database, "viewer");
      const session = await signIn(base, u.email, u.password);
      await mark();
      const reply = ok(await trpc(base, session, "mutation", "auth.signOut", {}));
      return { reply, expected: { action: "auth.sign_out", actor_label: u.email, target_type: "session", before: { revoked_at: null }, after: { revoked: true } } };
    },
  },
  {
    key: "tRPC users.create",
    run: async (mark) => {
      const org = await makeOrg(platform);
      const email = uniqueEmail("audited");
      await mark();
      const reply = ok(await trpc(base, owner, "mutation", "users.create", { email, password: PASSWORD, role: "member", org_id: org.id }));
      return { reply, expected: { action: "user.create", org_id: org.id, target_id: reply.body.id, before: null, after: { email, role: "member", org_id: org.id, is_active: true } } };
    },
  },
  {
    key: "tRPC users.update",
    run: async (mark) => {
      const u = await makeUser(database, "viewer");
      await mark();
      const reply = ok(await trpc(base, owner, "mutation", "users.update", { id: u.id, role: "admin", is_active: false, password: "a brand new password" }));
      return {
        reply,
        expected: {
          action: "user.update",
          target_id: u.id,
          before: { role: "viewer", is_active: true, password: "[redacted]" },
          after: { role: "admin", is_active: false, password: "[redacted, changed]" },
        },
      };
    },
  },
  {
    key: "tRPC keys.create",
    run: async (mark) => {
      await mark();
      const reply = ok(await trpc(base, owner, "mutation", "keys.create", { name: "Audited key", permission: "usage" }));
      return { reply, expected: { action: "api_key.create", org_id: null, target_id: reply.body.id, before: null, after: { name: "Audited key", prefix: reply.body.prefix, permission: "usage", org_id: null } } };
    },
  },
  {
    key: "tRPC keys.revoke",
    run: async (mark) => {
      const key = await makeKey(database, "read");
      await mark();
      const reply = ok(await trpc(base, owner, "mutation", "keys.revoke", { id: key.id }));
      return { reply, expected: { action: "api_key.revoke", target_id: key.id, before: { revoked_at: null }, after: { revoked_at: reply.body.revoked_at } } };
    },
  },
];

describe("audit log", () => {
  test("every mutating route and procedure has a case here", () => {
    const mutating = new Set([
      ...restRoutes.filter((r) => r.method !== "get").map((r) => `REST ${r.method.toUpperCase()} ${r.path}`),
      ...Object.entries((appRouter as any)._def.procedures as Record<string, { _def: { type: string } }>)
        .filter(([, p]) => p._def.type === "mutation")
        .map(([name]) => `tRPC ${name}`),
    ]);
    // POSTs that change nothing: a what-if is computed and returned, never stored (docs/guardrails.md, "Insights").
    for (const readOnly of ["REST POST /api/organizations/:id/what-if"]) {
      expect(mutating.has(readOnly)).toBe(true);
      mutating.delete(readOnly);
    }
    const covered = new Set(cases.map((c) => c.key));
    expect([...mutating].filter((k) => !covered.has(k)).sort()).toEqual([]);
    expect([...covered].filter((k) => !mutating.has(k)).sort()).toEqual([]);
  });

  for (const c of cases) {
    test(`${c.key} writes exactly one entry with the changed fields before and after`, async () => {
      const db = c.db ?? database;
      let from = Number.MAX_SAFE_INTEGER;
      const { reply, expected } = await c.run(async () => {
        from = await lastId(db);
      });
      const written = await entriesAfter(db, from);
      expect(written).toHaveLength(1);
      expect(written[0]).toMatchObject(expected);
      expect(written[0]!.request_id).toBe(reply.headers.get("x-request-id"));
      expect(JSON.stringify(written[0])).not.toMatch(/\$argon2|secret|odk_[a-z0-9]{10}_/);
    });
  }

  test("a refused or invalid change writes nothing, and neither does a change to the same value", async () => {
    const org = await makeOrg(platform);
    const viewer = await makeUser(database, "viewer");
    const session = await signIn(base, viewer.email, viewer.password);
    const from = await lastId(database);
    expect((await call(base, session, "PATCH", `/api/organizations/${org.id}`, { name: "Nope" })).status).toBe(403);
    expect((await call(base, env, "PATCH", `/api/organizations/${org.id}`, { name: "" })).status).toBe(400);
    expect((await call(base, env, "POST", `/api/organizations/${org.id}/toggle`, { is_active: true })).status).toBe(200);
    expect((await call(base, env, "PATCH", `/api/organizations/${org.id}`, { name: org.name })).status).toBe(200);
    expect(await entriesAfter(database, from)).toEqual([]);
  });

  test("entries name the actor: a user by email, a key by prefix, ADMIN_API_KEY as such", async () => {
    const key = await makeKey(database, "write");
    const from = await lastId(database);
    await call(base, { key: key.key }, "POST", "/api/organizations", { name: "By Stored Key" });
    await call(base, env, "POST", "/api/organizations", { name: "By Env Key" });
    await call(base, owner, "POST", "/api/organizations", { name: "By Owner" });
    const written = await entriesAfter(database, from);
    expect(written.map((e) => [e.actor_kind, e.actor_label])).toEqual([
      ["api_key", `key:${key.prefix}`],
      ["api_key", "key:ADMIN_API_KEY"],
      ["user", ownerUser.email],
    ]);
  });
});

describe("reading the audit log", () => {
  let prepared: Promise<{ org: { id: string; slug: string } }> | undefined;
  const history = async () => {
    const org = await makeOrg(platform, { name: "History Org" });
    const agent = await makeAgent(platform, { org_id: org.id });
    await call(base, env, "PATCH", `/api/agents/${agent.id}`, { billingRate: "3.00" });
    await call(base, env, "POST", `/api/agents/${agent.id}/unassign-org`);
    await call(base, env, "DELETE", `/api/organizations/${org.id}`);
    return { org, agent };
  };
  // Made on first use, not while tests are collected (the tests above count entries).
  const setup = () => (prepared ??= history());

  test("outlives the organization it is about: its id still finds every entry, newest first", async () => {
    const { org } = await setup();
    const reply = await call(base, owner, "GET", `/api/audit?org=${org.id}`);
    expect(reply.status).toBe(200);
    expect(reply.body.events.map((e: any) => e.action)).toEqual(["organization.delete", "agent.rate_change", "agent.create", "organization.create"]);
    // Its slug is free again, so the slug no longer names it.
    expect((await call(base, owner, "GET", `/api/audit?org=${org.slug}`)).status).toBe(404);
  });

  test("filters by actor and by action (exact, or a prefix ending in a dot)", async () => {
    await setup();
    const byAction = await call(base, owner, "GET", "/api/audit?action=agent.unassign");
    expect(byAction.body.events.length).toBeGreaterThan(0);
    expect(byAction.body.events.every((e: any) => e.action === "agent.unassign")).toBe(true);
    const byPrefix = await trpc(base, owner, "query", "audit.list", { action: "organization." });
    expect(new Set(byPrefix.body.events.map((e: any) => e.action.split(".")[0]))).toEqual(new Set(["organization"]));
    const byActor = await call(base, owner, "GET", `/api/audit?actor=${encodeURIComponent(ownerUser.email.toUpperCase())}`);
    expect(byActor.body.events.length).toBeGreaterThan(0);
    expect(byActor.body.events.every((e: any) => e.actor_label === ownerUser.email)).toBe(true);
    const byActorId = await call(base, owner, "GET", `/api/audit?actor=${ownerUser.id}`);
    expect(byActorId.body.events.map((e: any) => e.id)).toEqual(byActor.body.events.map((e: any) => e.id));
  });

  test("pages with a cursor through every entry exactly once", async () => {
    await setup();
    const all = (await call(base, owner, "GET", "/api/audit?limit=500")).body.events.map((e: any) => e.id);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Reply = await call(base, owner, "GET", `/api/audit?limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      paged.push(...page.body.events.map((e: any) => e.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(paged).toEqual(all);
    expect(all.length).toBeGreaterThan(20);
  });

  test("bad filters are 400s that name the field", async () => {
    const tooMany = await call(base, owner, "GET", "/api/audit?limit=501");
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].path).toBe("limit");
    const badCursor = await call(base, owner, "GET", "/api/audit?cursor=zzz");
    expect(badCursor.status).toBe(400);
    expect((await call(base, owner, "GET", "/api/audit?action=DROP%20TABLE")).status).toBe(400);
  });

  test("a bound principal reads only its organization's entries, with other organizations masked", async () => {
    const mine = await makeOrg(platform, { name: "Audit Mine" });
    const theirs = await makeOrg(platform, { name: "Audit Theirs" });
    const mover = await makeAgent(platform, { org_id: theirs.id });
    await call(base, env, "POST", `/api/agents/${mover.id}/assign-org`, { orgId: mine.id });
    const bound = await makeUser(database, "viewer", mine.id);
    const session = await signIn(base, bound.email, bound.password);
    const reply = await call(base, session, "GET", "/api/audit?limit=500");
    expect(reply.status).toBe(200);
    expect(reply.body.events.every((e: any) => e.org_id === mine.id)).toBe(true);
    const move = reply.body.events.find((e: any) => e.action === "agent.assign");
    expect(move.before.org_id).toBe("[another organization]");
    expect(move.after.org_id).toBe(mine.id);
    expect((await call(base, session, "GET", `/api/audit?org=${theirs.id}`)).status).toBe(404);
  });
});
