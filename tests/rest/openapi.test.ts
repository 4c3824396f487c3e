import { describe, expect, test } from "bun:test";
import { lintApiDocument, tally } from "../../scripts/support/lint-api";
import * as budgets from "../../server/modules/budgets/service";
import { makeKey } from "../support/access";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { ADMIN_KEY, client, startTestServer } from "../support/http";

/**
 * The API description tells the truth (docs/api.md): it is valid and passes the OWASP API
 * security ruleset (as `.spectral.yaml` adjusts it); every limit it states for a request is one
 * the server enforces; and every answer an operation gives is one it documents, headers included.
 */
const MAX_BODY = 8192;
const database = await testDatabase();
const { base, api } = startTestServer(database, { maxBodyBytes: MAX_BODY });
const doc = (await api.get("/api/openapi.json")).body as { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };
const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

const org = (await api.post("/api/organizations", { name: "Doc Target" })).body;
const agent = (await api.post("/api/agents", { name: "Doc Agent", org_id: org.id })).body;
const readKey = (await makeKey(database, "read")).key;
const usageKey = (await makeKey(database, "usage")).key;

const webhook = (await api.post("/api/webhooks", { url: "https://hooks.example.com/doc" })).body;
const delivery = (await api.post(`/api/webhooks/${webhook.id}/test`)).body;
// A budget on the agent, spent past its thresholds: its alerts exist once it is evaluated.
const budget = (await api.post("/api/budgets", { agent_id: agent.id, kind: "cost_usd", amount: "0.01" })).body;
await api.post("/api/usage", { id: "doc-budget-spend", agent_id: agent.id, model: "doc-model", input_tokens: 1, output_tokens: 1, cost_usd: "1" });
await budgets.evaluate({ ...ctxFor(database), principal: { kind: "anonymous" } }, { orgId: org.id, month: new Date().toISOString().slice(0, 7) });
const alert = (await api.get("/api/alerts")).body.alerts[0];

/** The path of an operation with its parameters filled: real ids unless given. */
const fill = (path: string, id?: string) =>
  path.replace("{month}", "2025-03").replace("{number}", "INV-2099-99999").replace(
    "{id}",
    id ??
      (path.startsWith("/api/agents")
        ? agent.id
        : path.startsWith("/api/webhooks/deliveries")
          ? delivery.id
          : path.startsWith("/api/webhooks")
            ? webhook.id
            : path.startsWith("/api/budgets")
              ? budget.id
              : path.startsWith("/api/alerts")
                ? alert.id
                : org.slug),
  );
const documented = (op: any) => Object.keys(op.responses).map(Number);

describe("the OpenAPI document", () => {
  test(
    "is valid for Redocly and has no error under Spectral's OWASP ruleset",
    async () => {
      const report = await lintApiDocument(doc);
      console.log(`OpenAPI lint: ${report.errors.length} errors, ${report.warnings.length} warnings (${tally(report.warnings).join("; ")})`);
      expect(report.failures).toEqual([]);
      expect(report.errors.map((e) => `${e.tool} ${e.rule} at ${e.where}: ${e.message}`)).toEqual([]);
    },
    60_000,
  );

  test("the linters do catch what the document must not have: a request string without a limit is an error", async () => {
    const broken = structuredClone(doc);
    delete broken.paths["/api/organizations"]!.post.requestBody.content["application/json"].schema.properties.name.maxLength;
    const report = await lintApiDocument(broken, "spectral");
    expect(report.errors.map((e) => `${e.rule} ${e.where}`)).toEqual([
      "orgdesk-request-string-limit paths./api/organizations.post.requestBody.content.application/json.schema.properties.name",
    ]);
  }, 60_000);

  test("every pattern is a plain ECMAScript pattern that accepts what the server accepts", () => {
    const patterns = [...JSON.stringify(doc).matchAll(/"pattern":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(patterns.length).toBeGreaterThan(0);
    for (const p of patterns) {
      // A regex's flags copied after its source (".../i") would make the pattern match nothing.
      expect(p).not.toMatch(/\/[a-z]+$/);
      expect(() => new RegExp(p, "u")).not.toThrow();
    }
    const agentId = doc.paths["/api/agents/{id}"]!.get.parameters.find((p: any) => p.name === "id").schema;
    expect(new RegExp(agentId.pattern, "u").test(agent.id.toUpperCase())).toBe(true);
  });

  test("problem responses are stated per operation: 413 and 415 only with a body, 404 only with an id to look up, none on health", () => {
    for (const { path, method, op } of operations) {
      const statuses = documented(op);
      const withBody = Boolean(op.requestBody);
      expect({ op: `${method} ${path}`, 413: statuses.includes(413), 415: statuses.includes(415) }).toEqual({ op: `${method} ${path}`, 413: withBody, 415: withBody });
      if (path.includes("{id}")) expect(statuses).toContain(404);
      if (method === "GET") expect(statuses).not.toContain(409);
    }
    expect(documented(doc.paths["/api/health"]!.get).sort()).toEqual([200, 503]);
    expect(documented(doc.paths["/api/model-prices"]!.get).sort()).toEqual([200, 401, 403, 429, 500, 503]);
    expect(documented(doc.paths["/api/organizations"]!.post)).toContain(409);
  });
});

/** One character more than `maxLength` allows. */
const tooLong = (maxLength: number) => "x".repeat(maxLength + 1);

describe("every limit the document states for a request is enforced", () => {
  test("each string body field and query parameter over its maxLength is a 400 naming it", async () => {
    const checked: string[] = [];
    const failures: string[] = [];
    for (const { path, method, op } of operations) {
      const url = fill(path);
      for (const param of (op.parameters ?? []).filter((p: any) => p.in === "query" && p.schema?.maxLength)) {
        const res = await api.get(`${url}?${param.name}=${tooLong(param.schema.maxLength)}`);
        checked.push(`${method} ${path} ?${param.name}`);
        if (res.status !== 400 || !res.body.errors?.some((e: any) => e.path === param.name)) failures.push(`${method} ${path} ?${param.name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
      const schema = op.requestBody?.content["application/json"]?.schema;
      for (const [name, prop] of Object.entries<any>(schema?.properties ?? {})) {
        const max = prop.maxLength ?? prop.anyOf?.find((s: any) => s.maxLength)?.maxLength;
        if (!max) continue;
        const res = await api.raw(method, url, { [name]: tooLong(max) });
        checked.push(`${method} ${path} ${name}`);
        if (res.status !== 400 || !res.body.errors?.some((e: any) => e.path === name)) failures.push(`${method} ${path} ${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
    // Names, descriptions, contacts, emails, money, dates, search, cursors, references: dozens of fields.
    expect(checked.length).toBeGreaterThan(40);
  });

  test("each limited field of a usage event is refused over its maxLength, as a rejection of that event", async () => {
    const event = doc.components.schemas.UsageEvent;
    const valid = { id: "doc-event", agent_id: agent.id, model: "doc-model", input_tokens: 1, output_tokens: 1 };
    for (const [name, prop] of Object.entries<any>(event.properties)) {
      const max = prop.maxLength ?? prop.anyOf?.find((s: any) => s.maxLength)?.maxLength;
      if (!max) continue;
      const res = await api.post("/api/usage", { events: [{ ...valid, id: `doc-${name}`, [name]: tooLong(max) }] });
      expect({ name, status: res.status, accepted: res.body.accepted }).toEqual({ name, status: 200, accepted: 0 });
      expect(res.body.rejected[0].message).toContain(`${name}:`);
    }
  });

  test("integer bounds of query parameters are enforced at both ends", async () => {
    let checked = 0;
    for (const { path, op } of operations.filter((o) => o.method === "GET")) {
      for (const param of (op.parameters ?? []).filter((p: any) => p.in === "query" && p.schema?.type === "integer")) {
        for (const value of [param.schema.minimum - 1, param.schema.maximum + 1]) {
          const res = await api.get(`${fill(path)}?${param.name}=${value}`);
          expect({ at: `${path}?${param.name}=${value}`, status: res.status, field: res.body.errors?.[0]?.path }).toEqual({ at: `${path}?${param.name}=${value}`, status: 400, field: param.name });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  test("each request array over its maxItems is refused: a 400 naming it, or the batch's 413", async () => {
    const cases: [string, string, string, number][] = [];
    for (const { path, method, op } of operations) {
      const schema = op.requestBody?.content["application/json"]?.schema;
      for (const [name, prop] of Object.entries<any>(schema?.properties ?? {})) if (prop.type === "array") cases.push([method, path, name, prop.maxItems]);
      for (const branch of schema?.anyOf ?? []) for (const [name, prop] of Object.entries<any>(branch.properties ?? {})) if (prop.type === "array") cases.push([method, path, name, prop.maxItems]);
    }
    expect(cases.map((c) => `${c[0]} ${c[1]} ${c[2]} ≤ ${c[3]}`).sort()).toEqual([
      "PATCH /api/budgets/{id} thresholds_pct ≤ 10",
      "POST /api/budgets thresholds_pct ≤ 10",
      "POST /api/integrations/otel/attribute span_ids ≤ 1000",
      "POST /api/usage events ≤ 1000",
      "PUT /api/fx-rates rates ≤ 500",
      "PUT /api/model-prices prices ≤ 500",
    ]);
    for (const [method, path, name, maxItems] of cases) {
      const res = await api.raw(method, fill(path), { [name]: Array.from({ length: maxItems + 1 }, () => ({})) });
      expect([400, 413]).toContain(res.status);
      expect(res.body.errors.some((e: any) => e.path === name)).toBe(true);
    }
  });
});

describe("every answer an operation gives is one it documents", () => {
  /** A body each write accepts, so that what a probe varies is the only thing wrong with it. */
  const VALID: Record<string, unknown> = {
    "POST /api/organizations": { name: "Doc Probe" },
    "PATCH /api/organizations/{id}": { description: "probed" },
    "POST /api/organizations/{id}/toggle": { is_active: true },
    "POST /api/agents": { name: "Doc Probe Agent" },
    "PATCH /api/agents/{id}": { description: "probed" },
    "POST /api/agents/{id}/assign-org": { orgId: org.id },
    "POST /api/agents/{id}/unassign-org": {},
    "POST /api/usage": { id: "doc-probe", agent_id: agent.id, model: "doc-model", input_tokens: 1, output_tokens: 1 },
    "POST /api/usage/reprice": { from: "2026-01-01", to: "2026-01-31" },
    // A trace without unattributed spans: a documented 404.
    "POST /api/integrations/otel/attribute": { trace_id: "0".repeat(32), agent_id: agent.id },
    "PUT /api/model-prices": { prices: [{ model: "doc-model", effective_from: "2026-01-01", input_per_m: "1", output_per_m: "2" }] },
    "PUT /api/fx-rates": { rates: [{ currency: "EUR", effective_from: "2026-01-01", rate: "0.9" }] },
    "POST /api/webhooks": { url: "https://hooks.example.com/probe" },
    "PATCH /api/webhooks/{id}": { description: "probed" },
    "POST /api/budgets": { org_id: org.id, kind: "margin_floor_pct", amount: "25" },
    "PATCH /api/budgets/{id}": { amount: "0.02" },
    "POST /api/invoices/{number}/void": { reason: "probed" },
    "PUT /api/settings/invoicing": { payment_terms_days: 30 },
    "PUT /api/organizations/{id}/invoicing": { usage_markup_pct: "5" },
  };
  type Operation = (typeof operations)[number];
  type Probe = { what: string; status?: number; init: (o: Operation) => { path: string; headers: Record<string, string>; body?: string } | null };
  const json = { "content-type": "application/json" };
  const key = (o: Operation) => `${o.method} ${o.path}`;
  const valid = (o: Operation) => (o.op.requestBody ? JSON.stringify(VALID[key(o)] ?? {}) : undefined);
  // A status is expected only where the probe is the one thing wrong (a write of a shape not in VALID may fail validation first).
  const known = (o: Operation) => !o.op.requestBody || key(o) in VALID;
  const probes: Probe[] = [
    { what: "no credentials", status: 401, init: (o) => (o.op.security?.length === 0 ? null : { path: fill(o.path), headers: json, body: valid(o) }) },
    { what: "a usage-only key", status: 403, init: (o) => (o.op.security?.length === 0 || key(o) === "POST /api/usage" ? null : { path: fill(o.path), headers: { "x-api-key": usageKey, ...json }, body: valid(o) }) },
    { what: "a read-only key writing", status: 403, init: (o) => (o.method === "GET" ? null : { path: fill(o.path), headers: { "x-api-key": readKey, ...json }, body: valid(o) }) },
    { what: "an unknown id", status: 404, init: (o) => (o.path.includes("{id}") ? { path: fill(o.path, crypto.randomUUID()), headers: { "x-api-key": ADMIN_KEY, ...json }, body: valid(o) } : null) },
    { what: "a malformed id", status: 404, init: (o) => (o.path.includes("{id}") ? { path: fill(o.path, "x".repeat(300)), headers: { "x-api-key": ADMIN_KEY, ...json }, body: valid(o) } : null) },
    { what: "a body that is not JSON", status: 415, init: (o) => (o.op.requestBody ? { path: fill(o.path), headers: { "x-api-key": ADMIN_KEY, "content-type": "text/plain" }, body: "name=x" } : null) },
    { what: "a body over the size limit", status: 413, init: (o) => (o.op.requestBody ? { path: fill(o.path), headers: { "x-api-key": ADMIN_KEY, ...json }, body: JSON.stringify({ description: "x".repeat(MAX_BODY) }) } : null) },
    { what: "malformed JSON", status: 400, init: (o) => (o.op.requestBody ? { path: fill(o.path), headers: { "x-api-key": ADMIN_KEY, ...json }, body: "{" } : null) },
    {
      what: "out-of-range query values",
      status: 400,
      init: (o) => (o.op.parameters?.some((p: any) => p.in === "query") ? { path: `${fill(o.path)}?status=nope&limit=0&months=0&month=x&from=x&format=x`, headers: { "x-api-key": ADMIN_KEY } } : null),
    },
    { what: "a valid call", init: (o) => ({ path: fill(o.path), headers: { "x-api-key": ADMIN_KEY, ...json }, body: valid(o) }) },
  ];

  test("the status of each probe is documented for its operation, with the media type and headers the document promises", async () => {
    const wrong: string[] = [];
    let sent = 0;
    for (const operation of operations) {
      if (key(operation) === "DELETE /api/organizations/{id}") continue; // its own test below: a valid call would delete the target
      for (const probe of probes) {
        const request = probe.init(operation);
        if (!request) continue;
        const res = await fetch(base + request.path, { method: operation.method, headers: request.headers, body: operation.method === "GET" ? undefined : request.body });
        sent++;
        const label = `${key(operation)} [${probe.what}] → ${res.status}`;
        if (probe.status !== undefined && known(operation) && res.status !== probe.status) wrong.push(`${label}, expected ${probe.status}: ${(await res.text()).slice(0, 160)}`);
        const response = operation.op.responses[String(res.status)];
        if (!response) {
          wrong.push(`${label}: not documented (${documented(operation.op).join(", ")})`);
          continue;
        }
        const type = res.headers.get("content-type")?.split(";")[0] ?? "";
        if (!Object.keys(response.content ?? {}).includes(type)) wrong.push(`${label}: ${type} not documented`);
        for (const name of Object.keys(response.headers ?? {})) if (!res.headers.has(name)) wrong.push(`${label}: no ${name} header`);
      }
    }
    expect(wrong).toEqual([]);
    expect(sent).toBeGreaterThan(100);
  });

  test("the bulk import (a CSV or NDJSON body, not JSON) answers documented statuses and media types", async () => {
    const op = doc.paths["/api/usage/import"]!.post;
    expect(Object.keys(op.requestBody.content)).toEqual(["text/csv", "application/x-ndjson"]);
    const csv = (key: string | null, body: string, type = "text/csv") =>
      fetch(`${base}/api/usage/import`, { method: "POST", headers: { "content-type": type, ...(key ? { "x-api-key": key } : {}) }, body });
    const header = "id,agent_id,model,input_tokens,output_tokens";
    const answers: [Response, number][] = [
      [await csv(ADMIN_KEY, `${header}\ndoc-import-1,${agent.id},doc-model,1,1\n`), 200],
      [await csv(usageKey, `${header}\ndoc-import-2,${agent.id},doc-model,1,1\n`), 200],
      [await csv(ADMIN_KEY, JSON.stringify({ id: "doc-import-3", agent_id: agent.id, model: "doc-model", input_tokens: 1, output_tokens: 1 }), "application/x-ndjson"), 200],
      [await csv(ADMIN_KEY, "no,such,columns\n"), 400],
      [await csv(ADMIN_KEY, "{}", "application/json"), 415],
      [await csv(null, `${header}\n`), 401],
      [await csv(readKey, `${header}\n`), 403],
    ];
    for (const [res, status] of answers) {
      expect(res.status).toBe(status);
      const type = res.headers.get("content-type")!.split(";")[0]!;
      expect(Object.keys(op.responses[String(status)].content)).toContain(type);
    }
    expect(await answers[0]![0].json()).toEqual({ accepted: 1, duplicates: 0, rejected: 0, errors: [] });
  });

  test("deleting answers documented statuses: 200, then 404; 409 while agents remain", async () => {
    const op = doc.paths["/api/organizations/{id}"]!.delete;
    const victim = (await api.post("/api/organizations", { name: "Doc Victim" })).body;
    for (const expected of [200, 404]) {
      const res = await api.delete(`/api/organizations/${victim.id}`);
      expect(res.status).toBe(expected);
      expect(documented(op)).toContain(res.status);
    }
    const busy = (await api.post("/api/organizations", { name: "Doc Busy" })).body;
    await api.post("/api/agents", { name: "Doc Busy Agent", org_id: busy.id });
    const refused = await client(base, ADMIN_KEY).delete(`/api/organizations/${busy.id}`);
    expect(refused.status).toBe(409);
    expect(documented(op)).toContain(409);
  });
});
