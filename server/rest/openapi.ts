import { z, type ZodType } from "zod";
import { ERRORS } from "../errors";
import type { RestRoute } from "./route";

function jsonSchema(schema: ZodType, io: "input" | "output") {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;
  return rest;
}

const problemSchema = {
  type: "object",
  required: ["type", "title", "status", "detail", "code", "error", "request_id"],
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string", enum: Object.keys(ERRORS).map((k) => k.toLowerCase()) },
    error: { type: "string", description: "Same as detail" },
    errors: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } },
    request_id: { type: "string" },
  },
};

/** OpenAPI 3.1 document built from the same route table and zod schemas that serve requests. */
export function buildOpenApi(routes: RestRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
      description: m[1] === "id" && route.path.startsWith("/api/organizations") ? "Organization id or slug" : undefined,
    }));
    if (route.query) {
      const q = jsonSchema(route.query, "input") as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        params.push({ name, in: "query", required: (q.required ?? []).includes(name), schema: schema as never, description: undefined });
      }
    }
    const problemResponses: Record<string, unknown> = {};
    const statuses = new Set([400, 404, 409, 413, 415, 429, 503]);
    if (!route.public) {
      statuses.add(401);
      statuses.add(403);
    }
    for (const status of [...statuses].sort()) {
      problemResponses[String(status)] = {
        description: Object.values(ERRORS).find((e) => e.status === status)?.title ?? "Error",
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      };
    }
    const success: Record<string, unknown> = {};
    if (route.response) success["application/json"] = { schema: jsonSchema(route.response, "output") };
    for (const type of route.produces ?? []) success[type] = { schema: { type: "string" } };
    paths[path] ??= {};
    paths[path]![route.method] = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method}${path.replace(/[{}]/g, "").replace(/[/-](\w)/g, (_, c: string) => c.toUpperCase())}`,
      ...(route.public ? { security: [] } : {}),
      parameters: params,
      ...(route.body
        ? { requestBody: { required: !route.bodyOptional, content: { "application/json": { schema: jsonSchema(route.body, "input") } } } }
        : {}),
      responses: { [String(route.status ?? 200)]: { description: "Success", content: success }, ...problemResponses },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Orgdesk API",
      version: "1.0.0",
      description:
        "Organizations, agents, usage and billing for agencies running AI agents for client organizations. " +
        "Money is always a decimal string; errors are RFC 9457 problem documents.",
    },
    servers: [{ url: "/" }],
    security: [{ apiKey: [] }, { bearer: [] }, { session: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        bearer: { type: "http", scheme: "bearer" },
        session: { type: "apiKey", in: "cookie", name: "orgdesk_session" },
      },
      schemas: { Problem: problemSchema },
    },
    paths,
  };
}

/** A self-contained, readable page listing every operation with its schemas (no external assets). */
export function renderDocsPage(doc: ReturnType<typeof buildOpenApi>): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  const sections: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods as Record<string, any>)) {
      const params = (op.parameters as any[])
        .map((p) => `<li><code>${esc(p.name)}</code> <em>${p.in}${p.required ? ", required" : ""}</em>${p.description ? ` — ${esc(p.description)}` : ""}</li>`)
        .join("");
      const body = op.requestBody ? `<h4>Request body</h4><pre>${esc(JSON.stringify(op.requestBody.content["application/json"].schema, null, 2))}</pre>` : "";
      const okStatus = Object.keys(op.responses)[0]!;
      const ok = op.responses[okStatus].content["application/json"];
      const response = ok ? `<h4>Response ${okStatus}</h4><pre>${esc(JSON.stringify(ok.schema, null, 2))}</pre>` : "";
      sections.push(
        `<section id="${esc(op.operationId)}"><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>` +
          `<p>${esc(op.summary)}${op.security ? " <strong>(no authentication)</strong>" : ""}</p>` +
          (params ? `<h4>Parameters</h4><ul>${params}</ul>` : "") +
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
<h1>Orgdesk API</h1><p>${esc(doc.info.description)}</p>
<p>Authenticate with <code>X-API-Key: &lt;key&gt;</code> or <code>Authorization: Bearer &lt;key&gt;</code> (in the web app, the session cookie; its writes must come from the same origin). Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<h2>Errors</h2><p>Every error is <code>application/problem+json</code>: <code>{ type, title, status, detail, code, error, errors?, request_id }</code>.</p>
<table><tr><th>code</th><th>status</th><th>meaning</th></tr>${errors}</table>
<h2>Operations</h2>${sections.join("\n")}</body></html>`;
}
