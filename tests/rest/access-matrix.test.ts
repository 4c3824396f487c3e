import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { restRoutes } from "../../server/rest/routes";
import { appRouter } from "../../server/trpc/router";
import { authHeaders, call, type Credentials, makeKey, makeUser, PASSWORD, type Reply, signIn, trpc, uniqueEmail } from "../support/access";
import { ctxFor, platformKey } from "../support/actors";
import { parseCsv } from "../support/csv";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { standardLoggingPayload } from "../support/fixtures/litellm";
import { webhookCreateInput } from "../../server/modules/webhooks/schema";
import * as webhooks from "../../server/modules/webhooks/service";
import { budgetCreateInput } from "../../server/modules/budgets/schema";
import * as budgets from "../../server/modules/budgets/service";
import * as usage from "../../server/modules/usage/service";
import * as invoices from "../../server/modules/invoices/service";
import { startTestServer } from "../support/http";

/**
 * The access matrix: every REST route and every tRPC procedure, called over HTTP by every kind of
 * principal against every kind of target, with the status the access rules (docs/security.md) say
 * it must get. Expectations come from the small table below, written from those rules, not from the
 * policy code under test.
 */

// ---------------------------------------------------------------------------------------------
// The access rules of docs/security.md in the test's own words.

type Role = "owner" | "admin" | "member" | "viewer";
type Cap =
  | "public" // no credentials needed
  | "signed-in" // any valid credentials
  | "read" // organizations, agents, audit in scope
  | "org.create"
  | "org.update"
  | "org.delete"
  | "org.toggle"
  | "agent.create"
  | "agent.update"
  | "agent.rate"
  | "agent.move" // assign / unassign
  | "billing.read"
  | "billing.export"
  | "invoices.manage" // finalize, void, invoicing settings
  | "insights" // break-even allowances and what-if: costs and margins
  | "usage.ingest"
  | "usage.reprice"
  | "usage.attribute" // bill unattributed OpenTelemetry spans to an agent
  | "integrations" // the Integrations overview: every source's traffic
  | "prices.read"
  | "prices.write"
  | "users"
  | "keys"
  | "webhooks"
  | "budgets.read"
  | "budgets.manage"
  | "alerts.ack";

const EVERYTHING: Cap[] = [
  "read", "org.create", "org.update", "org.delete", "org.toggle", "agent.create", "agent.update", "agent.rate", "agent.move",
  "billing.read", "billing.export", "invoices.manage", "insights", "usage.ingest", "usage.reprice", "prices.read", "prices.write", "users", "keys", "webhooks",
  "budgets.read", "budgets.manage", "alerts.ack", "usage.attribute", "integrations",
];
/** Members and viewers "read everything in scope" (budgets and alerts included). */
const READER: Cap[] = ["read", "billing.read", "insights", "prices.read", "budgets.read", "integrations"];
const ROLE_CAPS: Record<Role, Cap[]> = {
  // "everything, including users, API keys, prices and FX"
  owner: EVERYTHING,
  // "organizations, agents, rates, billing, exports, API keys" — not users, not price/FX changes;
  // webhooks are "managed by owners and admins"
  admin: EVERYTHING.filter((c) => c !== "users" && c !== "prices.write"),
  // "read everything in scope; create and assign agents"
  // Marking an alert read is an acknowledgement, not a change: anyone but a viewer or a read key.
  member: [...READER, "agent.create", "agent.move", "alerts.ack"],
  // "read only"
  viewer: READER,
};
const KEY_CAPS: Record<"read" | "write" | "usage", Cap[]> = {
  read: ROLE_CAPS.viewer,
  // A write key acts as an admin, except that keys never make keys, nor manage webhooks ("managed by
  // owners and admins"; docs/security.md).
  write: ROLE_CAPS.admin.filter((c) => c !== "keys" && c !== "webhooks"),
  // "may only POST /api/usage"
  usage: ["usage.ingest"],
};
/** "A bound user cannot create, toggle, delete organizations or move agents", never sees costs (prices), manages no platform. */
const NEVER_WHEN_BOUND: Cap[] = [
  "org.create", "org.toggle", "org.delete", "agent.move", "invoices.manage", "users", "keys", "prices.read", "prices.write", "usage.reprice", "webhooks",
  // Budgets, alerts and insights are token cost and margin (docs/guardrails.md).
  "budgets.read", "budgets.manage", "alerts.ack", "insights",
  // Ingestion statistics and unattributed spans are every organization's traffic.
  "usage.attribute", "integrations",
];

type Target = "none" | "own" | "other" | "random";

interface Actor {
  name: string;
  kind: "user" | "key" | "env-key" | "revoked-key" | "nobody";
  role?: Role;
  permission?: "read" | "write" | "usage";
  bound: boolean;
  credentials: Credentials;
  /** A new session for the same user (for sign-out cells). */
  freshCredentials: () => Promise<Credentials>;
  /** The account this principal's sign-in cell signs into (one per principal: cells run concurrently). */
  probe?: { email: string };
}

interface Op {
  /** Inventory key: `REST <METHOD> <path>` or `tRPC <procedure>`. */
  key: string;
  variant?: string;
  cap: Cap;
  /** What the target names: an organization, an agent, a user, a key, or nothing. */
  on: "none" | "org" | "agent" | "user" | "key" | "webhook" | "delivery" | "budget" | "suspended-budget" | "alert" | "invoice" | "orgMonth";
  /** Changes its target, so every cell gets a fresh one. */
  mutates?: boolean;
  /** A batch with per-item results: an invisible target is a rejected item in a 200, not a 404. */
  perItem?: boolean;
  /** Further checks of a successful reply; returns what is wrong, if anything. */
  verify?: (actor: Actor, target: Target, reply: Reply) => string | null;
  success?: number;
  run: (actor: Actor, id: string | null, target: Target) => Promise<Reply>;
}

function capsOf(actor: Actor): Cap[] {
  if (actor.kind === "user") return ROLE_CAPS[actor.role!];
  // ADMIN_API_KEY is also for first setup, which includes loading prices and FX rates.
  if (actor.kind === "env-key") return [...KEY_CAPS.write, "prices.write", "webhooks"];
  if (actor.kind === "key") return KEY_CAPS[actor.permission!];
  return [];
}

/** The status the access rules and docs/api.md require for `actor` calling `op` on `target`. */
function expected(actor: Actor, op: Op, target: Target): number {
  const success = op.success ?? 200;
  if (op.cap === "public") return actor.kind === "revoked-key" && op.key.startsWith("tRPC") ? 401 : success;
  if (actor.kind === "nobody" || actor.kind === "revoked-key") return 401;
  if (op.cap !== "signed-in" && !capsOf(actor).includes(op.cap)) return 403;
  if (actor.bound && NEVER_WHEN_BOUND.includes(op.cap)) return 403;
  if (op.perItem) return success;
  if (target === "random") return 404;
  if (target === "other" && actor.bound) return 404; // indistinguishable from an unknown id
  return success;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: one database, two tenants, a principal of every kind.

const database = await testDatabase({ max: 20 });
// The address limit is exercised by its own test; here every cell comes from 127.0.0.1.
const { base } = startTestServer(database, { loginMaxPerAddress: 1_000_000 });
const platform = ctxFor(database, platformKey);

// Both tenants exist since January 2025, so that they have months to invoice.
const SINCE = "2025-01-01T00:00:00Z";
const orgA = await makeOrg(platform, { name: "Tenant Alpha", billing_rate_per_agent: "10.00", created_at: SINCE });
const orgB = await makeOrg(platform, { name: "Tenant Bravo", billing_rate_per_agent: "10.00", created_at: SINCE });
const agentA = await makeAgent(platform, { org_id: orgA.id, created_at: SINCE, external_id: `runtime-alpha-${Date.now().toString(36)}` });
const agentB = await makeAgent(platform, { org_id: orgB.id, created_at: SINCE, external_id: `runtime-bravo-${Date.now().toString(36)}` });
/** The external id an ingestion cell names its target agent by (a random one for a random id). */
const externalIdOf = (id: string) => (id === agentA.id ? agentA.external_id : id === agentB.id ? agentB.external_id : `runtime-${id}`);
const finalizeMonth = (orgId: string, month: string) => invoices.finalize({ ctx: platform, input: { id: orgId, month } });
const invoiceA = await finalizeMonth(orgA.id, "2025-01");
const invoiceB = await finalizeMonth(orgB.id, "2025-01");
/** An organization of its own with an agent since January 2025: every one of its months can be finalized once. */
async function billedOrg() {
  const org = await makeOrg(platform, { billing_rate_per_agent: "10.00", created_at: SINCE });
  await makeAgent(platform, { org_id: org.id, created_at: SINCE });
  return org.id;
}
let hooks = 0;
const makeWebhook = () => webhooks.create({ ctx: platform, input: webhookCreateInput.parse({ url: `https://hooks.example.com/matrix/${hooks++}` }) });
const webhookA = await makeWebhook();
const webhookB = await makeWebhook();
/** A budget on a fresh agent of `orgId`; `suspended`: spent past 100 % with `suspend`, so its agent is suspended. */
async function makeBudget(orgId: string, suspended = false) {
  const agent = await makeAgent(platform, { org_id: orgId });
  const budget = await budgets.create({ ctx: platform, input: budgetCreateInput.parse({ agent_id: agent.id, kind: "cost_usd", amount: "1", action_at_100: suspended ? "suspend" : "notify" }) });
  if (suspended) {
    await usage.ingest({ ctx: platform, input: { events: [{ id: `matrix-${crypto.randomUUID()}`, agent_id: agent.id, model: "matrix-model", input_tokens: 1, output_tokens: 1, cost_usd: "2" }] } });
    await budgets.evaluate({ ...platform, principal: { kind: "anonymous" } }, { orgId, month: new Date().toISOString().slice(0, 7) });
  }
  return budget;
}
const budgetA = await makeBudget(orgA.id, true);
const budgetB = await makeBudget(orgB.id, true);
const alertOf = async (budgetId: string) => (await rows<{ id: string }>(database.db, sql`select id::text as id from budget_alerts where budget_id = ${budgetId} limit 1`))[0]!.id;
const alertA = await alertOf(budgetA.id);
const alertB = await alertOf(budgetB.id);
const userOwn = await makeUser(database, "viewer");
const userOther = await makeUser(database, "viewer", orgB.id);

const actors: Actor[] = [];
const noCredentials = async () => null;
for (const role of ["owner", "admin", "member", "viewer"] as const) {
  for (const bound of [false, true]) {
    const u = await makeUser(database, role, bound ? orgA.id : null);
    const session = async (): Promise<Credentials> => ({ cookie: (await signIn(base, u.email, u.password)).cookie });
    actors.push({ name: `${role}${bound ? "@A" : ""}`, kind: "user", role, bound, credentials: await session(), freshCredentials: session });
  }
}
for (const permission of ["read", "write", "usage"] as const) {
  for (const bound of [false, true]) {
    const k = await makeKey(database, permission, bound ? orgA.id : null);
    const credentials = { key: k.key };
    actors.push({ name: `key:${permission}${bound ? "@A" : ""}`, kind: "key", permission, bound, credentials, freshCredentials: async () => credentials });
  }
}
{
  const env = { key: "test-admin-key" };
  actors.push({ name: "ADMIN_API_KEY", kind: "env-key", bound: false, credentials: env, freshCredentials: async () => env });
  const revoked = await makeKey(database, "write");
  await database.db.execute(sql`update api_keys set revoked_at = now() where id = ${revoked.id}`);
  actors.push({ name: "revoked key", kind: "revoked-key", bound: false, credentials: { key: revoked.key }, freshCredentials: async () => ({ key: revoked.key }) });
  actors.push({ name: "no credentials", kind: "nobody", bound: false, credentials: null, freshCredentials: noCredentials });
}

/** The id a cell targets. Mutating cells get fresh rows so cells never depend on each other. */
async function resolveTarget(op: Op, actor: Actor, target: Target): Promise<string | null> {
  if (target === "none") return null;
  if (target === "random") return op.on === "invoice" ? "INV-2099-99999" : op.on === "orgMonth" ? `${crypto.randomUUID()}/invoices/2025-03` : crypto.randomUUID();
  const own = target === "own";
  switch (op.on) {
    case "org":
      if (!op.mutates) return own ? orgA.id : orgB.id;
      return own && actor.bound ? orgA.id : (await makeOrg(platform)).id;
    case "agent":
      if (!op.mutates) return own ? agentA.id : agentB.id;
      return (await makeAgent(platform, { org_id: own ? orgA.id : orgB.id })).id;
    case "user":
      return own ? userOwn.id : userOther.id;
    case "key":
      return (await makeKey(database, "read", own ? orgA.id : orgB.id)).id;
    case "webhook":
      // Webhooks belong to no organization: "own" and "other" are simply two endpoints.
      if (!op.mutates) return own ? webhookA.id : webhookB.id;
      return (await makeWebhook()).id;
    case "delivery":
      return (await webhooks.sendTest({ ctx: platform, input: { id: (await makeWebhook()).id } })).id;
    case "budget":
    case "suspended-budget":
      // A refused call changes nothing, so it may target the shared budgets; a fresh one costs an
      // agent, a budget and (suspended) usage and an evaluation.
      if (!op.mutates || expected(actor, op, target) >= 300) return own ? budgetA.id : budgetB.id;
      return (await makeBudget(own ? orgA.id : orgB.id, op.on === "suspended-budget")).id;
    case "alert":
      return own ? alertA : alertB;
    // Finalizing and voiding change their target for good: a cell that must succeed gets one of its
    // own (an organization with a month to finalize, or a fresh invoice); a cell that must be
    // refused is refused before anything changes, so it may name the shared ones.
    case "invoice":
      if (!op.mutates || expected(actor, op, target) !== (op.success ?? 200)) return own ? invoiceA.number! : invoiceB.number!;
      return (await finalizeMonth(await billedOrg(), "2025-03")).number!;
    case "orgMonth":
      if (!op.mutates || expected(actor, op, target) !== (op.success ?? 200)) return `${own ? orgA.id : orgB.id}/invoices/2025-03`;
      return `${await billedOrg()}/invoices/2025-03`;
    default:
      return null;
  }
}

for (const actor of actors) actor.probe = await makeUser(database, "viewer");

// ---------------------------------------------------------------------------------------------
// Every operation.

const rest = (method: string, path: string, body?: unknown) => (actor: Actor) => call(base, actor.credentials, method, path, body);
const q = (actor: Actor, path: string, input?: unknown) => trpc(base, actor.credentials, "query", path, input);
const m = (actor: Actor, path: string, input?: unknown) => trpc(base, actor.credentials, "mutation", path, input);
/** `<org>/invoices/<month>` (an orgMonth target) as the procedures' input. */
const orgMonthOf = (target: string) => {
  const [id, , month] = target.split("/");
  return { id, month };
};
const otherOrgOf = (target: Target) => (target === "own" ? orgB.id : orgA.id);
let n = 0;
const fresh = (label: string) => `${label} ${Date.now().toString(36)}-${n++}`;

/** One usage event of `agentId`, with its own cost (so no price is needed). */
const usageEvent = (agentId: string) => ({
  events: [{ id: fresh("evt"), agent_id: agentId, model: "matrix-model", input_tokens: 100, output_tokens: 50, cost_usd: "0.0100" }],
});
/** The same event naming its agent by external id. */
const usageEventByExternalId = (agentId: string) => ({
  events: [{ id: fresh("evt"), agent_external_id: externalIdOf(agentId), model: "matrix-model", input_tokens: 100, output_tokens: 50, cost_usd: "0.0100" }],
});
/** The same event as one line of a bulk import CSV. */
const importCsv = (agentId: string) => `id,agent_id,model,input_tokens,output_tokens,cost_usd\n${fresh("evt").replace(" ", "-")},${agentId},matrix-model,100,50,0.0100\n`;
/** POSTs a CSV file to the bulk import, as the Integrations page and `bun run import` do. */
const restImport = (text: string) => async (actor: Actor): Promise<Reply> => {
  const res = await fetch(`${base}/api/usage/import`, { method: "POST", headers: { ...authHeaders(base, actor.credentials), "content-type": "text/csv" }, body: text });
  const body = await res.text();
  let parsed: unknown = body;
  try {
    parsed = JSON.parse(body);
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed, request: `POST /api/usage/import ${text}` };
};
/** A visible agent's line is stored; an invisible one (other tenant, unknown) is rejected alike. */
function verifyImport(actor: Actor, target: Target, reply: Reply): string | null {
  const visible = target === "own" || (target === "other" && !actor.bound);
  const body = reply.body;
  if (visible) return body.accepted === 1 ? null : `expected the line accepted: ${JSON.stringify(body)}`;
  return body.accepted === 0 && body.errors?.[0]?.code === "unknown_agent" ? null : `expected unknown_agent: ${JSON.stringify(body)}`;
}
/** The same usage as LiteLLM's callback reports it, the agent named by its key alias. */
const litellmPayload = (agentId: string) => standardLoggingPayload({ id: fresh("call").replaceAll(" ", "-"), alias: externalIdOf(agentId), model: "matrix-model", endTime: Date.now() / 1000 });
/** One OTLP JSON chat span with usage, naming its agent by external id. */
const otlpChat = (agentId: string) => {
  const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  const attr = (key: string, value: string | number) => ({ key, value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value } });
  const attributes = [attr("gen_ai.operation.name", "chat"), attr("gen_ai.agent.id", externalIdOf(agentId)!), attr("gen_ai.request.model", "matrix-model"), attr("gen_ai.usage.input_tokens", 100), attr("gen_ai.usage.output_tokens", 50)];
  const end = String(BigInt(Date.now()) * 1_000_000n);
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [{ traceId: hex(16), spanId: hex(8), name: "chat", endTimeUnixNano: end, attributes }] }] }] };
};
/** A visible agent's span is billed (an empty OTLP response); an invisible one is a rejected span, alike for another tenant's and an unknown agent. */
function verifyOtlp(actor: Actor, target: Target, reply: Reply): string | null {
  const visible = target === "own" || (target === "other" && !actor.bound);
  const rejected = reply.body?.partialSuccess?.rejectedSpans;
  if (visible) return rejected === undefined ? null : `expected the span billed: ${JSON.stringify(reply.body)}`;
  return rejected === "1" && /no agent/.test(reply.body.partialSuccess.errorMessage) ? null : `expected one rejected span: ${JSON.stringify(reply.body)}`;
}
/** A visible agent's event is stored; an invisible one (other tenant, unknown) is rejected alike. */
function verifyIngest(actor: Actor, target: Target, reply: Reply): string | null {
  const visible = target === "own" || (target === "other" && !actor.bound);
  const body = reply.body;
  if (visible) return body.accepted === 1 ? null : `expected the event accepted: ${JSON.stringify(body)}`;
  return body.accepted === 0 && body.rejected?.[0]?.code === "unknown_agent" ? null : `expected unknown_agent: ${JSON.stringify(body)}`;
}
/** A PDF download is a PDF (its text is checked in tests/rest/invoices.test.ts). */
function verifyPdf(_actor: Actor, _target: Target, reply: Reply): string | null {
  return typeof reply.body === "string" && reply.body.startsWith("%PDF-") ? null : "expected a PDF";
}
/** A billable span that has waited more than 30 minutes for an ancestor naming its agent: its trace id. */
async function unattributedTrace(): Promise<string> {
  const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  const [traceId, spanId] = [hex(16), hex(8)];
  const event = { id: `otel:${traceId}:${spanId}`, model: "matrix-model", provider: null, occurred_at: new Date().toISOString(), input_tokens: 10, output_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0 };
  await database.db.execute(sql`insert into otel_pending_spans (trace_id, span_id, event, received_at) values (${traceId}, ${spanId}, ${JSON.stringify(event)}, now() - interval '31 minutes')`);
  return traceId;
}
/** tRPC's PDF twin carries the same document as base64. */
function verifyPdfFile(_actor: Actor, _target: Target, reply: Reply): string | null {
  const body = reply.body;
  return body?.encoding === "base64" && Buffer.from(body.content, "base64").subarray(0, 5).toString() === "%PDF-" ? null : "expected a base64 PDF";
}
const priceBody = { prices: [{ model: "matrix-model", effective_from: "2025-01-01", input_per_m: "1.50", output_per_m: "3.00" }] };
const fxBody = { rates: [{ currency: "EUR", effective_from: "2025-01-01", rate: "0.92" }] };

const ops: Op[] = [
  // REST
  { key: "REST GET /api/health", cap: "public", on: "none", run: (a) => rest("GET", "/api/health")(a) },
  { key: "REST GET /api/organizations", cap: "read", on: "none", run: (a) => rest("GET", "/api/organizations")(a) },
  { key: "REST POST /api/organizations", cap: "org.create", on: "none", success: 201, run: (a) => rest("POST", "/api/organizations", { name: fresh("Created") })(a) },
  { key: "REST GET /api/organizations/:id", cap: "read", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}`)(a) },
  { key: "REST PATCH /api/organizations/:id", variant: "details", cap: "org.update", on: "org", mutates: true, run: (a, id) => rest("PATCH", `/api/organizations/${id}`, { description: fresh("d") })(a) },
  { key: "REST PATCH /api/organizations/:id", variant: "rate", cap: "org.update", on: "org", mutates: true, run: (a, id) => rest("PATCH", `/api/organizations/${id}`, { billing_rate_per_agent: "12.50" })(a) },
  { key: "REST DELETE /api/organizations/:id", cap: "org.delete", on: "org", mutates: true, run: (a, id) => rest("DELETE", `/api/organizations/${id}`)(a) },
  { key: "REST POST /api/organizations/:id/toggle", cap: "org.toggle", on: "org", mutates: true, run: (a, id) => rest("POST", `/api/organizations/${id}/toggle`, { is_active: false })(a) },
  { key: "REST GET /api/agents", variant: "all", cap: "read", on: "none", run: (a) => rest("GET", "/api/agents")(a) },
  { key: "REST GET /api/agents", variant: "by org", cap: "read", on: "org", run: (a, id) => rest("GET", `/api/agents?org=${id}`)(a) },
  { key: "REST POST /api/agents", cap: "agent.create", on: "org", success: 201, run: (a, id) => rest("POST", "/api/agents", { name: fresh("Agent"), org_id: id })(a) },
  { key: "REST GET /api/agents/:id", cap: "read", on: "agent", run: (a, id) => rest("GET", `/api/agents/${id}`)(a) },
  { key: "REST PATCH /api/agents/:id", variant: "details", cap: "agent.update", on: "agent", mutates: true, run: (a, id) => rest("PATCH", `/api/agents/${id}`, { description: fresh("d") })(a) },
  { key: "REST PATCH /api/agents/:id", variant: "external id", cap: "agent.update", on: "agent", mutates: true, run: (a, id) => rest("PATCH", `/api/agents/${id}`, { external_id: fresh("ext").replaceAll(" ", "-") })(a) },
  { key: "REST PATCH /api/agents/:id", variant: "rate", cap: "agent.rate", on: "agent", mutates: true, run: (a, id) => rest("PATCH", `/api/agents/${id}`, { billingRate: "7.00" })(a) },
  { key: "REST POST /api/agents/:id/assign-org", cap: "agent.move", on: "agent", mutates: true, run: (a, id, t) => rest("POST", `/api/agents/${id}/assign-org`, { orgId: otherOrgOf(t) })(a) },
  { key: "REST POST /api/agents/:id/unassign-org", cap: "agent.move", on: "agent", mutates: true, run: (a, id) => rest("POST", `/api/agents/${id}/unassign-org`)(a) },
  { key: "REST GET /api/organizations/:id/billing-summary", cap: "billing.read", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/billing-summary`)(a) },
  { key: "REST GET /api/organizations/:id/billing", cap: "billing.read", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/billing?months=3`)(a) },
  { key: "REST GET /api/organizations/:id/billing/export", variant: "csv", cap: "billing.export", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/billing/export?months=3`)(a) },
  { key: "REST GET /api/organizations/:id/billing/export", variant: "json", cap: "billing.export", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/billing/export?months=3&format=json`)(a) },
  { key: "REST GET /api/organizations/:id/insights", cap: "insights", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/insights?margin_floor_pct=10`)(a) },
  { key: "REST POST /api/organizations/:id/what-if", cap: "insights", on: "org", run: (a, id) => rest("POST", `/api/organizations/${id}/what-if`, { month: "2025-06", rate: "50.00" })(a) },
  { key: "REST GET /api/billing/overview", cap: "billing.read", on: "none", run: (a) => rest("GET", "/api/billing/overview")(a) },
  { key: "REST GET /api/invoices", cap: "billing.read", on: "none", run: (a) => rest("GET", "/api/invoices")(a) },
  { key: "REST GET /api/organizations/:id/invoices", cap: "billing.read", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/invoices`)(a) },
  { key: "REST GET /api/organizations/:id/invoices/:month", cap: "billing.read", on: "orgMonth", run: (a, id) => rest("GET", `/api/organizations/${id}`)(a) },
  { key: "REST POST /api/organizations/:id/invoices/:month/finalize", cap: "invoices.manage", on: "orgMonth", mutates: true, success: 201, run: (a, id) => rest("POST", `/api/organizations/${id}/finalize`)(a) },
  { key: "REST GET /api/invoices/:number", cap: "billing.read", on: "invoice", run: (a, id) => rest("GET", `/api/invoices/${id}`)(a) },
  { key: "REST GET /api/invoices/:number/pdf", cap: "billing.read", on: "invoice", verify: verifyPdf, run: (a, id) => rest("GET", `/api/invoices/${id}/pdf`)(a) },
  { key: "REST GET /api/invoices/:number/csv", cap: "billing.read", on: "invoice", run: (a, id) => rest("GET", `/api/invoices/${id}/csv`)(a) },
  { key: "REST POST /api/invoices/:number/void", cap: "invoices.manage", on: "invoice", mutates: true, run: (a, id) => rest("POST", `/api/invoices/${id}/void`, { reason: "matrix" })(a) },
  { key: "REST GET /api/settings/invoicing", cap: "billing.read", on: "none", run: (a) => rest("GET", "/api/settings/invoicing")(a) },
  { key: "REST PUT /api/settings/invoicing", cap: "invoices.manage", on: "none", run: (a) => rest("PUT", "/api/settings/invoicing", { payment_terms_days: 30 })(a) },
  { key: "REST GET /api/organizations/:id/invoicing", cap: "billing.read", on: "org", run: (a, id) => rest("GET", `/api/organizations/${id}/invoicing`)(a) },
  { key: "REST PUT /api/organizations/:id/invoicing", cap: "invoices.manage", on: "org", mutates: true, run: (a, id) => rest("PUT", `/api/organizations/${id}/invoicing`, { usage_markup_pct: "10" })(a) },
  { key: "REST POST /api/usage", cap: "usage.ingest", on: "agent", perItem: true, verify: verifyIngest, run: (a, id) => rest("POST", "/api/usage", usageEvent(id!))(a) },
  { key: "REST POST /api/usage", variant: "by external id", cap: "usage.ingest", on: "agent", perItem: true, verify: verifyIngest, run: (a, id) => rest("POST", "/api/usage", usageEventByExternalId(id!))(a) },
  { key: "REST POST /api/usage/import", cap: "usage.ingest", on: "agent", perItem: true, verify: verifyImport, run: (a, id) => restImport(importCsv(id!))(a) },
  { key: "REST POST /api/integrations/litellm", cap: "usage.ingest", on: "agent", perItem: true, verify: verifyIngest, run: (a, id) => rest("POST", "/api/integrations/litellm", [litellmPayload(id!)])(a) },
  { key: "REST POST /api/otel/v1/traces", cap: "usage.ingest", on: "agent", perItem: true, verify: verifyOtlp, run: (a, id) => rest("POST", "/api/otel/v1/traces", otlpChat(id!))(a) },
  { key: "REST GET /api/integrations", cap: "integrations", on: "none", run: (a) => rest("GET", "/api/integrations")(a) },
  { key: "REST POST /api/integrations/otel/attribute", cap: "usage.attribute", on: "none", run: async (a) => rest("POST", "/api/integrations/otel/attribute", { trace_id: await unattributedTrace(), agent_id: agentA.id })(a) },
  { key: "REST POST /api/usage/reprice", cap: "usage.reprice", on: "none", run: (a) => rest("POST", "/api/usage/reprice", { from: "2026-01-01", to: "2026-01-31" })(a) },
  { key: "REST GET /api/model-prices", cap: "prices.read", on: "none", run: (a) => rest("GET", "/api/model-prices")(a) },
  { key: "REST PUT /api/model-prices", cap: "prices.write", on: "none", run: (a) => rest("PUT", "/api/model-prices", priceBody)(a) },
  { key: "REST GET /api/fx-rates", cap: "prices.read", on: "none", run: (a) => rest("GET", "/api/fx-rates")(a) },
  { key: "REST PUT /api/fx-rates", cap: "prices.write", on: "none", run: (a) => rest("PUT", "/api/fx-rates", fxBody)(a) },
  { key: "REST GET /api/audit", variant: "all", cap: "read", on: "none", run: (a) => rest("GET", "/api/audit?limit=500")(a) },
  { key: "REST GET /api/audit", variant: "by org", cap: "read", on: "org", run: (a, id) => rest("GET", `/api/audit?org=${id}&limit=50`)(a) },
  { key: "REST GET /api/webhooks", cap: "webhooks", on: "none", run: (a) => rest("GET", "/api/webhooks")(a) },
  { key: "REST POST /api/webhooks", cap: "webhooks", on: "none", success: 201, run: (a) => rest("POST", "/api/webhooks", { url: "https://hooks.example.com/new" })(a) },
  { key: "REST GET /api/webhooks/:id", cap: "webhooks", on: "webhook", run: (a, id) => rest("GET", `/api/webhooks/${id}`)(a) },
  { key: "REST PATCH /api/webhooks/:id", cap: "webhooks", on: "webhook", mutates: true, run: (a, id) => rest("PATCH", `/api/webhooks/${id}`, { description: fresh("d") })(a) },
  { key: "REST DELETE /api/webhooks/:id", cap: "webhooks", on: "webhook", mutates: true, run: (a, id) => rest("DELETE", `/api/webhooks/${id}`)(a) },
  { key: "REST POST /api/webhooks/:id/rotate-secret", cap: "webhooks", on: "webhook", mutates: true, run: (a, id) => rest("POST", `/api/webhooks/${id}/rotate-secret`)(a) },
  { key: "REST POST /api/webhooks/:id/test", cap: "webhooks", on: "webhook", success: 202, run: (a, id) => rest("POST", `/api/webhooks/${id}/test`)(a) },
  { key: "REST GET /api/webhooks/:id/deliveries", cap: "webhooks", on: "webhook", run: (a, id) => rest("GET", `/api/webhooks/${id}/deliveries`)(a) },
  { key: "REST POST /api/webhooks/deliveries/:id/retry", cap: "webhooks", on: "delivery", success: 202, run: (a, id) => rest("POST", `/api/webhooks/deliveries/${id}/retry`)(a) },
  { key: "REST GET /api/budgets", variant: "all", cap: "budgets.read", on: "none", run: (a) => rest("GET", "/api/budgets")(a) },
  { key: "REST GET /api/budgets", variant: "by org", cap: "budgets.read", on: "org", run: (a, id) => rest("GET", `/api/budgets?org=${id}`)(a) },
  { key: "REST POST /api/budgets", cap: "budgets.manage", on: "agent", mutates: true, success: 201, run: (a, id) => rest("POST", "/api/budgets", { agent_id: id, kind: "cost_usd", amount: "50" })(a) },
  { key: "REST PATCH /api/budgets/:id", cap: "budgets.manage", on: "budget", mutates: true, run: (a, id) => rest("PATCH", `/api/budgets/${id}`, { amount: "75.50" })(a) },
  { key: "REST DELETE /api/budgets/:id", cap: "budgets.manage", on: "budget", mutates: true, run: (a, id) => rest("DELETE", `/api/budgets/${id}`)(a) },
  { key: "REST POST /api/budgets/:id/lift-suspension", cap: "budgets.manage", on: "suspended-budget", mutates: true, run: (a, id) => rest("POST", `/api/budgets/${id}/lift-suspension`)(a) },
  { key: "REST GET /api/alerts", variant: "all", cap: "budgets.read", on: "none", run: (a) => rest("GET", "/api/alerts?unread=true")(a) },
  { key: "REST GET /api/alerts", variant: "by org", cap: "budgets.read", on: "org", run: (a, id) => rest("GET", `/api/alerts?org=${id}`)(a) },
  { key: "REST POST /api/alerts/:id/read", cap: "alerts.ack", on: "alert", run: (a, id) => rest("POST", `/api/alerts/${id}/read`)(a) },

  // tRPC
  { key: "tRPC orgs.list", cap: "read", on: "none", run: (a) => q(a, "orgs.list", {}) },
  { key: "tRPC orgs.get", cap: "read", on: "org", run: (a, id) => q(a, "orgs.get", { id }) },
  { key: "tRPC orgs.create", cap: "org.create", on: "none", run: (a) => m(a, "orgs.create", { name: fresh("Created") }) },
  { key: "tRPC orgs.update", variant: "details", cap: "org.update", on: "org", mutates: true, run: (a, id) => m(a, "orgs.update", { id, description: fresh("d") }) },
  { key: "tRPC orgs.update", variant: "rate", cap: "org.update", on: "org", mutates: true, run: (a, id) => m(a, "orgs.update", { id, billing_rate_per_agent: "12.50" }) },
  { key: "tRPC orgs.delete", cap: "org.delete", on: "org", mutates: true, run: (a, id) => m(a, "orgs.delete", { id }) },
  { key: "tRPC orgs.toggle", cap: "org.toggle", on: "org", mutates: true, run: (a, id) => m(a, "orgs.toggle", { id, is_active: false }) },
  { key: "tRPC agents.list", variant: "all", cap: "read", on: "none", run: (a) => q(a, "agents.list", {}) },
  { key: "tRPC agents.list", variant: "by org", cap: "read", on: "org", run: (a, id) => q(a, "agents.list", { org: id }) },
  { key: "tRPC agents.get", cap: "read", on: "agent", run: (a, id) => q(a, "agents.get", { id }) },
  { key: "tRPC agents.create", cap: "agent.create", on: "org", run: (a, id) => m(a, "agents.create", { name: fresh("Agent"), org_id: id }) },
  { key: "tRPC agents.update", variant: "details", cap: "agent.update", on: "agent", mutates: true, run: (a, id) => m(a, "agents.update", { id, description: fresh("d") }) },
  { key: "tRPC agents.update", variant: "external id", cap: "agent.update", on: "agent", mutates: true, run: (a, id) => m(a, "agents.update", { id, external_id: fresh("ext").replaceAll(" ", "-") }) },
  { key: "tRPC agents.update", variant: "rate", cap: "agent.rate", on: "agent", mutates: true, run: (a, id) => m(a, "agents.update", { id, billingRate: "7.00" }) },
  { key: "tRPC agents.assign", cap: "agent.move", on: "agent", mutates: true, run: (a, id, t) => m(a, "agents.assign", { id, orgId: otherOrgOf(t) }) },
  { key: "tRPC agents.unassign", cap: "agent.move", on: "agent", mutates: true, run: (a, id) => m(a, "agents.unassign", { id }) },
  { key: "tRPC agents.assignable", cap: "agent.move", on: "org", run: (a, id) => q(a, "agents.assignable", { org_id: id }) },
  { key: "tRPC billing.summary", cap: "billing.read", on: "org", run: (a, id) => q(a, "billing.summary", { id }) },
  { key: "tRPC billing.records", cap: "billing.read", on: "org", run: (a, id) => q(a, "billing.records", { id, months: 3 }) },
  { key: "tRPC billing.export", cap: "billing.export", on: "org", run: (a, id) => q(a, "billing.export", { id, months: 3, format: "csv" }) },
  { key: "tRPC insights.allowances", cap: "insights", on: "org", run: (a, id) => q(a, "insights.allowances", { id }) },
  { key: "tRPC insights.whatIf", cap: "insights", on: "org", run: (a, id) => q(a, "insights.whatIf", { id, month: "2025-06", rate: "50.00" }) },
  { key: "tRPC billing.overview", cap: "billing.read", on: "none", run: (a) => q(a, "billing.overview", {}) },
  { key: "tRPC billing.orgView", cap: "billing.read", on: "org", run: (a, id) => q(a, "billing.orgView", { id, months: 3 }) },
  { key: "tRPC billing.dashboard", cap: "billing.read", on: "none", run: (a) => q(a, "billing.dashboard", {}) },
  { key: "tRPC invoices.list", cap: "billing.read", on: "none", run: (a) => q(a, "invoices.list", {}) },
  { key: "tRPC invoices.orgList", cap: "billing.read", on: "org", run: (a, id) => q(a, "invoices.orgList", { id }) },
  { key: "tRPC invoices.get", cap: "billing.read", on: "orgMonth", run: (a, id) => q(a, "invoices.get", orgMonthOf(id!)) },
  { key: "tRPC invoices.byNumber", cap: "billing.read", on: "invoice", run: (a, id) => q(a, "invoices.byNumber", { number: id }) },
  { key: "tRPC invoices.document", variant: "pdf", cap: "billing.read", on: "invoice", verify: verifyPdfFile, run: (a, id) => q(a, "invoices.document", { number: id, format: "pdf" }) },
  { key: "tRPC invoices.document", variant: "csv", cap: "billing.read", on: "invoice", run: (a, id) => q(a, "invoices.document", { number: id, format: "csv" }) },
  { key: "tRPC invoices.document", variant: "json", cap: "billing.read", on: "invoice", run: (a, id) => q(a, "invoices.document", { number: id, format: "json" }) },
  { key: "tRPC invoices.finalize", cap: "invoices.manage", on: "orgMonth", mutates: true, run: (a, id) => m(a, "invoices.finalize", orgMonthOf(id!)) },
  { key: "tRPC invoices.void", cap: "invoices.manage", on: "invoice", mutates: true, run: (a, id) => m(a, "invoices.void", { number: id, reason: "matrix" }) },
  { key: "tRPC invoices.settings", cap: "billing.read", on: "none", run: (a) => q(a, "invoices.settings") },
  { key: "tRPC invoices.settingsPut", cap: "invoices.manage", on: "none", run: (a) => m(a, "invoices.settingsPut", { payment_terms_days: 30 }) },
  { key: "tRPC invoices.orgSettings", cap: "billing.read", on: "org", run: (a, id) => q(a, "invoices.orgSettings", { id }) },
  { key: "tRPC invoices.orgSettingsPut", cap: "invoices.manage", on: "org", mutates: true, run: (a, id) => m(a, "invoices.orgSettingsPut", { id, usage_markup_pct: "10" }) },
  { key: "tRPC usage.ingest", cap: "usage.ingest", on: "agent", perItem: true, verify: verifyIngest, run: (a, id) => m(a, "usage.ingest", usageEvent(id!)) },
  { key: "tRPC integrations.overview", cap: "integrations", on: "none", run: (a) => q(a, "integrations.overview") },
  { key: "tRPC integrations.attributeSpans", cap: "usage.attribute", on: "none", run: async (a) => m(a, "integrations.attributeSpans", { trace_id: await unattributedTrace(), agent_id: agentA.id }) },
  { key: "tRPC usage.reprice", cap: "usage.reprice", on: "none", run: (a) => m(a, "usage.reprice", { from: "2026-01-01", to: "2026-01-31" }) },
  { key: "tRPC prices.list", cap: "prices.read", on: "none", run: (a) => q(a, "prices.list") },
  { key: "tRPC prices.put", cap: "prices.write", on: "none", run: (a) => m(a, "prices.put", priceBody) },
  { key: "tRPC prices.fxList", cap: "prices.read", on: "none", run: (a) => q(a, "prices.fxList") },
  { key: "tRPC prices.fxPut", cap: "prices.write", on: "none", run: (a) => m(a, "prices.fxPut", fxBody) },
  { key: "tRPC auth.me", cap: "signed-in", on: "none", run: (a) => q(a, "auth.me") },
  { key: "tRPC auth.setupStatus", cap: "public", on: "none", run: (a) => q(a, "auth.setupStatus") },
  // Users exist, so setup is closed for everyone: 409 (401 first for a bad key).
  { key: "tRPC auth.setup", cap: "public", on: "none", success: 409, run: (a) => m(a, "auth.setup", { email: uniqueEmail("setup"), password: PASSWORD }) },
  { key: "tRPC auth.signIn", cap: "public", on: "none", run: (a) => m(a, "auth.signIn", { email: a.probe!.email, password: PASSWORD }) },
  {
    key: "tRPC auth.signOut",
    cap: "public",
    on: "none",
    run: async (a) => trpc(base, await a.freshCredentials(), "mutation", "auth.signOut", {}),
  },
  { key: "tRPC users.list", cap: "users", on: "none", run: (a) => q(a, "users.list") },
  { key: "tRPC users.create", cap: "users", on: "none", run: (a) => m(a, "users.create", { email: uniqueEmail("new"), password: PASSWORD, role: "viewer" }) },
  { key: "tRPC users.update", cap: "users", on: "user", run: (a, id) => m(a, "users.update", { id, role: "viewer" }) },
  { key: "tRPC keys.list", cap: "keys", on: "none", run: (a) => q(a, "keys.list") },
  { key: "tRPC keys.create", cap: "keys", on: "org", run: (a, id) => m(a, "keys.create", { name: fresh("key"), permission: "read", org_id: id }) },
  { key: "tRPC keys.revoke", cap: "keys", on: "key", mutates: true, run: (a, id) => m(a, "keys.revoke", { id }) },
  { key: "tRPC audit.list", variant: "all", cap: "read", on: "none", run: (a) => q(a, "audit.list", { limit: 500 }) },
  { key: "tRPC audit.list", variant: "by org", cap: "read", on: "org", run: (a, id) => q(a, "audit.list", { org: id, limit: 50 }) },
  { key: "tRPC webhooks.list", cap: "webhooks", on: "none", run: (a) => q(a, "webhooks.list") },
  { key: "tRPC webhooks.get", cap: "webhooks", on: "webhook", run: (a, id) => q(a, "webhooks.get", { id }) },
  { key: "tRPC webhooks.create", cap: "webhooks", on: "none", run: (a) => m(a, "webhooks.create", { url: "https://hooks.example.com/new" }) },
  { key: "tRPC webhooks.update", cap: "webhooks", on: "webhook", mutates: true, run: (a, id) => m(a, "webhooks.update", { id, description: fresh("d") }) },
  { key: "tRPC webhooks.delete", cap: "webhooks", on: "webhook", mutates: true, run: (a, id) => m(a, "webhooks.delete", { id }) },
  { key: "tRPC webhooks.rotateSecret", cap: "webhooks", on: "webhook", mutates: true, run: (a, id) => m(a, "webhooks.rotateSecret", { id }) },
  { key: "tRPC webhooks.test", cap: "webhooks", on: "webhook", run: (a, id) => m(a, "webhooks.test", { id }) },
  { key: "tRPC webhooks.deliveries", cap: "webhooks", on: "webhook", run: (a, id) => q(a, "webhooks.deliveries", { id }) },
  { key: "tRPC webhooks.retry", cap: "webhooks", on: "delivery", run: (a, id) => m(a, "webhooks.retry", { id }) },
  { key: "tRPC budgets.list", variant: "all", cap: "budgets.read", on: "none", run: (a) => q(a, "budgets.list", {}) },
  { key: "tRPC budgets.list", variant: "by org", cap: "budgets.read", on: "org", run: (a, id) => q(a, "budgets.list", { org: id }) },
  { key: "tRPC budgets.create", cap: "budgets.manage", on: "agent", mutates: true, run: (a, id) => m(a, "budgets.create", { agent_id: id, kind: "margin_floor_pct", amount: 20 }) },
  { key: "tRPC budgets.update", cap: "budgets.manage", on: "budget", mutates: true, run: (a, id) => m(a, "budgets.update", { id, thresholds_pct: [90] }) },
  { key: "tRPC budgets.delete", cap: "budgets.manage", on: "budget", mutates: true, run: (a, id) => m(a, "budgets.delete", { id }) },
  { key: "tRPC budgets.liftSuspension", cap: "budgets.manage", on: "suspended-budget", mutates: true, run: (a, id) => m(a, "budgets.liftSuspension", { id }) },
  { key: "tRPC alerts.list", variant: "all", cap: "budgets.read", on: "none", run: (a) => q(a, "alerts.list", {}) },
  { key: "tRPC alerts.list", variant: "by org", cap: "budgets.read", on: "org", run: (a, id) => q(a, "alerts.list", { org: id, unread: false }) },
  { key: "tRPC alerts.read", cap: "alerts.ack", on: "alert", run: (a, id) => m(a, "alerts.read", { id }) },
];

// ---------------------------------------------------------------------------------------------

interface Cell {
  actor: Actor;
  op: Op;
  target: Target;
  expected: number;
  actual?: number;
  reply?: Reply;
}

const cells: Cell[] = [];
for (const op of ops) {
  const targets: Target[] = op.on === "none" ? ["none"] : ["own", "other", "random"];
  for (const actor of actors) for (const target of targets) cells.push({ actor, op, target, expected: expected(actor, op, target) });
}

const describeCell = (c: Cell) => `${c.op.key}${c.op.variant ? ` (${c.op.variant})` : ""} as ${c.actor.name} on ${c.target}`;

async function runAll(concurrency: number) {
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const cell = cells[next++]!;
      const id = await resolveTarget(cell.op, cell.actor, cell.target);
      cell.reply = await cell.op.run(cell.actor, id, cell.target);
      cell.actual = cell.reply.status;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Fields about token cost or margin, which an organization-bound principal never receives. */
const COST_FIELD = /(^|_)(cost|margin|fx|unpriced|priced)(_|$)|(^|_)usd($|_)/i;

/** Whether `text` contains `token` as a whole word (so "Agent x-1" is not found in "Agent x-12"). */
function mentions(text: string, token: string): boolean {
  const word = /[A-Za-z0-9-]/;
  for (let i = text.indexOf(token); i >= 0; i = text.indexOf(token, i + 1)) {
    const before = text[i - 1];
    const after = text[i + token.length];
    if ((before === undefined || !word.test(before)) && (after === undefined || !word.test(after))) return true;
  }
  return false;
}

describe("access matrix", () => {
  test("covers every REST route and every tRPC procedure, and nothing else", () => {
    const existing = new Set([
      ...restRoutes.map((r) => `REST ${r.method.toUpperCase()} ${r.path}`),
      ...Object.keys((appRouter as unknown as { _def: { procedures: Record<string, unknown> } })._def.procedures).map((p) => `tRPC ${p}`),
    ]);
    const covered = new Set(ops.map((o) => o.key));
    expect([...existing].filter((k) => !covered.has(k)).sort()).toEqual([]);
    expect([...covered].filter((k) => !existing.has(k)).sort()).toEqual([]);
  });

  test(
    "every principal gets the status the access rules prescribe for every operation and target",
    async () => {
      await runAll(6);
      const wrong = cells.filter((c) => c.actual !== c.expected).map((c) => `${describeCell(c)}: expected ${c.expected}, got ${c.actual} ${JSON.stringify(c.reply?.body).slice(0, 160)}`);
      for (const c of cells) {
        const problem = c.actual === c.expected && c.actual! < 300 && c.op.verify?.(c.actor, c.target, c.reply!);
        if (problem) wrong.push(`${describeCell(c)}: ${problem}`);
      }
      console.log(`access matrix: ${ops.length} operations × ${actors.length} principals → ${cells.length} cells`);
      expect(wrong).toEqual([]);
    },
    // Every operation × 17 principals (about 2.5 minutes alone on this machine, twice that under other load).
    900_000,
  );

  test("an id in another tenant answers exactly like an unknown id (same status, same problem)", () => {
    const strip = (body: any) => {
      const problem = body?.data?.problem ?? body;
      const { request_id: _r, ...rest } = problem ?? {};
      return rest;
    };
    let compared = 0;
    for (const actor of actors.filter((a) => a.bound)) {
      for (const op of ops.filter((o) => o.on !== "none")) {
        const other = cells.find((c) => c.actor === actor && c.op === op && c.target === "other")!;
        const random = cells.find((c) => c.actor === actor && c.op === op && c.target === "random")!;
        expect({ cell: describeCell(other), status: other.actual }).toEqual({ cell: describeCell(other), status: random.actual });
        if (other.actual === 404) {
          expect(strip(other.reply!.body)).toEqual(strip(random.reply!.body));
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  test("no response to an organization-bound principal carries a cost or margin field, or any id or name of another organization or of its agents", async () => {
    // What lies outside organization A once every cell has run: every other organization, and
    // every agent that was never assigned to A (an agent that has since moved away from A stays in
    // A's billing history, so its id and name are A's to see).
    const foreignOrgs = await rows<{ id: string; name: string; slug: string }>(database.db, sql`select id::text as id, name, slug from organizations where id <> ${orgA.id}`);
    const foreignAgents = await rows<{ id: string; name: string; email: string | null; external_id: string | null }>(
      database.db,
      sql`select id::text as id, name, email, external_id from agents a
          where not exists (select 1 from agent_assignments s where s.agent_id = a.id and s.org_id = ${orgA.id})`,
    );
    expect(foreignOrgs.map((o) => o.name)).toContain("Tenant Bravo");
    expect(foreignAgents.map((a) => a.id)).toContain(agentB.id);
    const foreign = new Map<string, string>();
    for (const o of foreignOrgs) for (const v of [o.id, o.name, o.slug]) foreign.set(v, `organization ${o.name}`);
    for (const a of foreignAgents) for (const v of [a.id, a.name, a.email, a.external_id]) if (v) foreign.set(v, `agent ${a.name} of another organization`);
    const tokens = [...foreign.keys()];

    const problems: string[] = [];
    for (const cell of cells.filter((c) => c.actor.bound && c.reply)) {
      const where = describeCell(cell);
      // A value the caller itself sent (the id it asked about, echoed in a rejection) tells it nothing.
      const echoed = new Set(tokens.filter((t) => mentions(cell.reply!.request, t)));
      const text = (value: string, path: string) => {
        for (const t of tokens) if (!echoed.has(t) && mentions(value, t)) problems.push(`${where}: ${path} mentions ${foreign.get(t)} (${t})`);
      };
      const key = (name: string, path: string) => {
        if (COST_FIELD.test(name)) problems.push(`${where}: ${path} is a cost field (${name})`);
      };
      const visit = (value: unknown, path: string) => {
        if (typeof value === "string") {
          // A CSV download (our CSV ends its lines with CRLF): its header row names the fields.
          const table = value.includes("\r\n") ? parseCsv(value) : null;
          if (table) {
            table[0]!.forEach((column) => key(column, `${path} CSV column`));
            table.forEach((row, i) => row.forEach((v, j) => text(v, `${path} CSV row ${i} column ${table[0]![j]}`)));
          } else text(value, path);
        } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${path}[${i}]`));
        else if (value && typeof value === "object") {
          for (const [k, v] of Object.entries(value)) {
            key(k, `${path}.${k}`);
            visit(v, `${path}.${k}`);
          }
        }
      };
      visit(cell.reply!.body, "body");
    }
    const successes = cells.filter((c) => c.actor.bound && c.actual! < 300).length;
    console.log(`content checks: ${cells.filter((c) => c.actor.bound).length} replies to bound principals (${successes} successful), ${tokens.length} foreign values`);
    expect(problems).toEqual([]);
    expect(successes).toBeGreaterThan(50);
  });
});
