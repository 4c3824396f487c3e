import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import type { Config } from "../config";
import { ERRORS } from "../errors";
import type { AnyRestRoute, AppEnv } from "./route";

/**
 * The OpenAPI 3.1 document: @hono/zod-openapi turns each route's zod schemas into its parameters,
 * body and success response; this file adds what the schemas cannot say, so that the document
 * tells every limit and every answer the server really gives (docs/api.md):
 * - the problem+json responses each operation can give, derived from its shape (a body can be too
 *   large or not JSON; a path id can be unknown; every authenticated operation can be refused,
 *   rate limited or find the database down) plus the 404/409 its route declares;
 * - the `RateLimit-*` headers on every rate-limited answer, `Retry-After` on 429 and 503;
 * - integer formats and bounds: every integer on the wire is a JavaScript safe integer.
 */

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** OpenAPI path of a Hono path: `/api/organizations/:id` → `/api/organizations/{id}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

/** `post /api/agents/{id}/assign-org` → `postApiAgentsIdAssignOrg`. */
const operationId = (route: AnyRestRoute) =>
  `${route.method}${openApiPath(route.path)
    .replace(/[{}]/g, "")
    .replace(/[/-](\w)/g, (_, c: string) => c.toUpperCase())}`;

const problemRef = { $ref: "#/components/schemas/Problem" };
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
const RATE_LIMIT_HEADERS = { "RateLimit-Limit": header("RateLimit-Limit"), "RateLimit-Remaining": header("RateLimit-Remaining"), "RateLimit-Reset": header("RateLimit-Reset") };

/** Why each problem status happens, in the words of the document. */
const PROBLEMS: Record<number, string> = {
  400: "Bad input: `errors` lists every invalid field (path and message)",
  401: "No credentials, or credentials that are unknown, revoked or expired",
  403: "Authenticated, but not allowed: a read-only or usage-only key, a role without the permission, an organization-bound caller outside its organization's rights, or a cookie-authenticated write from another site",
  404: "Unknown id, or an id outside the caller's organization (the two are indistinguishable)",
  409: "Conflict with the current state (a taken slug, name or email; a change the resource's state refuses) or with a concurrent change",
  413: "The body is larger than the server's limit (`MAX_BODY_BYTES`)",
  415: "The body is not `application/json`",
  429: "Rate limited: retry after `Retry-After` seconds",
  500: "Unexpected error; logged with the request id, no detail is given",
  503: "The database is unavailable or the request took too long; retry after `Retry-After` seconds",
};

/**
 * The problem statuses an operation can answer, from its shape and its declared domain errors. A
 * public route is neither authenticated nor rate limited, and states its own failures (health's
 * 503 has its own body).
 */
export function problemStatuses(route: AnyRestRoute): number[] {
  const statuses = new Set(route.public ? [] : [401, 403, 429, 500, 503]);
  if (route.query || route.body || route.rawBody) statuses.add(400);
  if (route.params || route.errors?.includes(404)) statuses.add(404);
  if (route.errors?.includes(409)) statuses.add(409);
  if (route.body || route.rawBody) {
    statuses.add(413);
    statuses.add(415);
  }
  return [...statuses].sort((a, b) => a - b);
}

type Responses = RouteConfig["responses"];

function responsesOf(route: AnyRestRoute): Responses {
  const limited = !route.public;
  const headersFor = (status: number) => ({
    "X-Request-Id": header("X-Request-Id"),
    ...(limited && status < 500 ? RATE_LIMIT_HEADERS : {}),
    ...(status === 429 || status === 503 ? { "Retry-After": header("Retry-After") } : {}),
  });
  const status = route.status ?? 200;
  const content: Record<string, { schema: unknown }> = {};
  if (route.response) content["application/json"] = { schema: route.response };
  for (const type of route.produces ?? []) content[type] = { schema: { type: "string" } };
  const responses: Responses = {
    [status]: { description: route.status === 201 ? "Created" : "Success", headers: headersFor(status), content: content as never },
  };
  for (const [code, extra] of Object.entries(route.responses ?? {})) {
    responses[code] = { description: extra.description, headers: headersFor(Number(code)), content: { "application/json": { schema: extra.schema } } };
  }
  for (const code of problemStatuses(route)) {
    const detail = code === 413 && route.tooLarge ? `${PROBLEMS[413]}, or ${route.tooLarge}` : PROBLEMS[code]!;
    responses[code] = { description: detail, headers: headersFor(code), content: { "application/problem+json": { schema: problemRef } } };
  }
  return responses;
}

/** The library's route definition of one of ours: what the document says of it. */
export function routeConfig(route: AnyRestRoute): RouteConfig {
  return {
    method: route.method,
    path: openApiPath(route.path),
    operationId: operationId(route),
    summary: route.summary,
    tags: [route.tag],
    ...(route.public ? { security: [] } : {}),
    request: {
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { query: route.query as never } : {}),
      ...(route.body ? { body: { required: !route.bodyOptional, content: { "application/json": { schema: route.body } } } } : {}),
      ...(route.rawBody
        ? {
            body: {
              required: true,
              description: route.rawBody.description,
              content: Object.fromEntries(route.rawBody.types.map((t) => [t, { schema: { type: "string" as const, format: "binary", maxLength: MAX_SAFE } }])),
            },
          }
        : {}),
    },
    responses: responsesOf(route),
  };
}

const integer = (description: string, minimum: number) => ({ description, schema: { type: "integer" as const, format: "int64", minimum, maximum: MAX_SAFE } });

/** Registers what the routes refer to: the problem document, the response headers, the security schemes. */
export function registerComponents(app: OpenAPIHono<AppEnv>) {
  const registry = app.openAPIRegistry;
  registry.registerComponent("schemas", "Problem", {
    type: "object",
    description: "RFC 9457 problem document; `error` repeats `detail`. Never holds a stack trace, SQL text or constraint name.",
    required: ["type", "title", "status", "detail", "code", "error", "request_id"],
    properties: {
      type: { type: "string", description: "A link to this error's code in /api/docs" },
      title: { type: "string" },
      status: { type: "integer", format: "int32", minimum: 400, maximum: 599 },
      detail: { type: "string" },
      code: { type: "string", enum: Object.keys(ERRORS).map((k) => k.toLowerCase()) },
      error: { type: "string", description: "Same as detail" },
      errors: {
        type: "array",
        description: "Every invalid field of a 400, or the field a 409 or 413 is about",
        items: { type: "object", required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } },
      },
      period: {
        type: "object",
        description: "For `period_closed`: the closed month the change would reach, its invoice number and the earliest time a change may take effect",
        required: ["month", "invoice_number", "earliest_allowed"],
        properties: { month: { type: "string" }, invoice_number: { type: "string" }, earliest_allowed: { type: "string", format: "date-time" } },
      },
      request_id: { type: "string" },
    },
  });
  registry.registerComponent("headers", "X-Request-Id", {
    description: "The request's id (the caller's `X-Request-Id` when it is 1–128 characters of `A-Z a-z 0-9 . _ : -`, else a new one); logged with the request",
    schema: { type: "string", maxLength: 128, pattern: "^[A-Za-z0-9._:-]{1,128}$" },
  });
  registry.registerComponent(
    "headers",
    "RateLimit-Limit",
    integer("Requests allowed per window by the most constraining limit that counted this request (per API key or session: `RATE_LIMIT_PER_KEY`; per client address: `RATE_LIMIT_PER_ADDRESS`)", 1),
  );
  registry.registerComponent("headers", "RateLimit-Remaining", integer("Requests that limit still allows in the current window after this one", 0));
  registry.registerComponent("headers", "RateLimit-Reset", integer("Seconds until the current window of that limit ends (`RATE_LIMIT_WINDOW_S` long)", 1));
  registry.registerComponent("headers", "Retry-After", integer("Seconds to wait before retrying", 1));
  registry.registerComponent("securitySchemes", "apiKey", { type: "apiKey", in: "header", name: "X-API-Key", description: "An API key (docs/security.md)" });
  registry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", description: "The same API key as a bearer token" });
  registry.registerComponent("securitySchemes", "session", {
    type: "apiKey",
    in: "cookie",
    name: "orgdesk_session",
    description: "The web app's session cookie; writes with it must come from the same site",
  });
}

/** Every integer on the wire is a JavaScript safe integer: say so where a schema gives no narrower format or bounds. */
function boundIntegers(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(boundIntegers);
  if (!node || typeof node !== "object") return;
  const schema = node as Record<string, unknown>;
  const type = schema.type;
  if (type === "integer" || (Array.isArray(type) && type.includes("integer"))) {
    schema.format ??= "int64";
    if (schema.minimum === undefined && schema.exclusiveMinimum === undefined) schema.minimum = -MAX_SAFE;
    if (schema.maximum === undefined && schema.exclusiveMaximum === undefined) schema.maximum = MAX_SAFE;
  }
  for (const value of Object.values(schema)) boundIntegers(value);
}

/** What each group of operations is about (a new tag without a line here is listed without one). */
const TAGS: Record<string, string> = {
  System: "Health of the server and its database, for load balancers",
  Organizations: "Client organizations: contact, billing rate, currency, active or not",
  Agents: "AI agents, their organization, custom rates and assignment history",
  Billing: "Revenue, token cost and margin per organization, agent and month",
  Insights: "Break-even token allowances per agent and what-if scenarios for a past month (token costs: platform-wide callers only)",
  Usage: "Token usage reported by agent runtimes, and re-pricing",
  Prices: "Model prices and FX rates the billing uses",
  Audit: "Who changed what, when",
  Webhooks: "Signed outbound webhooks: endpoints, their secrets, delivery logs, retries and test events (owners and admins)",
};

export type OpenApiDocument = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;

/** The whole document, built once from the registered routes. */
export function buildDocument(app: OpenAPIHono<AppEnv>, routes: AnyRestRoute[], config: Pick<Config, "maxBodyBytes">): OpenApiDocument {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Orgdesk API",
      version: "1.0.0",
      description:
        "Organizations, agents, usage and billing for agencies running AI agents for client organizations. " +
        "Money is always a decimal string; errors are RFC 9457 problem documents. " +
        `Bodies are at most ${config.maxBodyBytes} bytes of JSON (no key repeated in an object, at most 32 levels deep). ` +
        "Every authenticated answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.",
    },
    servers: [{ url: "/", description: "The Orgdesk instance serving this document (local, staging or production)", "x-internal": false }],
    security: [{ apiKey: [] }, { bearer: [] }, { session: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name, ...(TAGS[name] ? { description: TAGS[name] } : {}) })),
  });
  boundIntegers(doc.paths);
  boundIntegers(doc.components);
  return doc;
}

/** A self-contained, readable page listing every operation with its schemas (no external assets). */
export function renderDocsPage(doc: OpenApiDocument): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  const sections: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(methods as Record<string, any>)) {
      const params = ((op.parameters ?? []) as any[])
        .map((p) => `<li><code>${esc(p.name)}</code> <em>${p.in}${p.required ? ", required" : ""}</em>${p.description ? ` — ${esc(p.description)}` : ""}</li>`)
        .join("");
      const json = op.requestBody?.content["application/json"];
      const body = !op.requestBody
        ? ""
        : json
          ? `<h4>Request body</h4><pre>${esc(JSON.stringify(json.schema, null, 2))}</pre>`
          : `<h4>Request body</h4><p>${esc(op.requestBody.description ?? Object.keys(op.requestBody.content).join(", "))}</p>`;
      const okStatus = Object.keys(op.responses)[0]!;
      const ok = op.responses[okStatus].content?.["application/json"];
      const response = ok ? `<h4>Response ${okStatus}</h4><pre>${esc(JSON.stringify(ok.schema, null, 2))}</pre>` : "";
      const problems = Object.keys(op.responses)
        .filter((s) => op.responses[s].content?.["application/problem+json"])
        .join(", ");
      sections.push(
        `<section id="${esc(op.operationId)}"><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>` +
          `<p>${esc(op.summary)}${op.security ? " <strong>(no authentication)</strong>" : ""}</p>` +
          (params ? `<h4>Parameters</h4><ul>${params}</ul>` : "") +
          (problems ? `<p>Problems: ${problems}</p>` : "") +
          `<details><summary>Schemas</summary>${body}${response}</details></section>`,
      );
    }
  }
  const errors = Object.entries(ERRORS)
    .map(([code, e]) => `<tr id="error-${code.toLowerCase().replaceAll("_", "-")}"><td><code>${code.toLowerCase()}</code></td><td>${e.status}</td><td>${e.title}</td></tr>`)
    .join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orgdesk API</title><style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#1f2937}
h1{margin-bottom:.25rem}code{font:13px ui-monospace,monospace;background:#f3f4f6;padding:1px 4px;border-radius:4px}
pre{background:#0f172a;color:#e2e8f0;padding:12px;border-radius:8px;overflow:auto;font-size:12px}
section{border-top:1px solid #e5e7eb;padding:.5rem 0}.m{font:600 12px ui-monospace,monospace;padding:2px 6px;border-radius:4px;color:#fff}
.get{background:#2563eb}.post{background:#059669}.patch{background:#d97706}.put{background:#7c3aed}.delete{background:#dc2626}
table{border-collapse:collapse}td{border:1px solid #e5e7eb;padding:4px 8px}</style></head><body>
<h1>Orgdesk API</h1><p>${esc(doc.info.description ?? "")}</p>
<p>Authenticate with <code>X-API-Key: &lt;key&gt;</code> or <code>Authorization: Bearer &lt;key&gt;</code> (in the web app, the session cookie; its writes must come from the same origin). Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<h2>Rate limits</h2><p>Requests are counted per API key or session and per client address in fixed windows. Every counted answer carries <code>RateLimit-Limit</code>, <code>RateLimit-Remaining</code> and <code>RateLimit-Reset</code> (seconds) for the most constraining limit; over it the answer is 429 with <code>Retry-After</code>.</p>
<h2>Errors</h2><p>Every error is <code>application/problem+json</code>: <code>{ type, title, status, detail, code, error, errors?, period?, request_id }</code>.</p>
<table><tr><th>code</th><th>status</th><th>meaning</th></tr>${errors}</table>
<h2>Operations</h2>${sections.join("\n")}</body></html>`;
}
