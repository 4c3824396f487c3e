import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import type { ZodType } from "zod";
import { resolvePrincipal } from "../auth/resolve";
import type { Config } from "../config";
import type { Ctx } from "../context";
import { AppError, fieldErrorsFromZod, notFound, validationError } from "../errors";
import { buildDocument, type OpenApiDocument, registerComponents, renderDocsPage, routeConfig } from "./openapi";
import { resourceOf } from "./params";
import { type AnyRestRoute, type AppEnv, readJsonBody } from "./route";

type ProblemResponder = (c: Context<AppEnv>, err: unknown) => Response;

/**
 * Mounts the REST adapters on `app`: every route of the table, registered with @hono/zod-openapi's
 * registry (which turns its schemas into the document) and served by `serve`; `/api/openapi.json`
 * and `/api/docs`; and the catch-all that answers 405 with `Allow` for a known path and 404 for
 * anything else under `/api`. Returns the document. Why requests are validated here rather than by
 * the library's validators: docs/decisions.md (REST edges).
 */
export function mountRest(
  app: Hono<AppEnv>,
  { routes, config, ctxOf, problemResponse }: { routes: AnyRestRoute[]; config: Config; ctxOf: (c: Context<AppEnv>) => Ctx; problemResponse: ProblemResponder },
): OpenApiDocument {
  const documented = new OpenAPIHono<AppEnv>();
  registerComponents(documented);
  for (const route of routes) {
    // A clone: zod copies prototype methods into a schema when it is built, so a schema built before
    // @hono/zod-openapi extended zod (any module loaded first) lacks the `.openapi` the registry calls.
    for (const [name, schema] of Object.entries(route.components ?? {})) documented.openAPIRegistry.register(name, schema.clone());
    documented.openAPIRegistry.registerPath(routeConfig(route));
    app.on(route.method.toUpperCase(), route.path, serve(route, ctxOf, config.maxBodyBytes));
  }

  const doc = buildDocument(documented, routes, config);
  const docsPage = renderDocsPage(doc);
  app.get("/api/openapi.json", (c) => c.json(doc));
  app.get("/api/docs", (c) => c.html(docsPage));

  // Unknown API paths: 405 when the path exists with another method, else 404, always problem+json.
  const patterns = routes.map((r) => ({ method: r.method.toUpperCase(), re: new RegExp("^" + r.path.replace(/:\w+/g, "[^/]+") + "/?$") }));
  app.all("/api/*", (c) => {
    const matching = patterns.filter((p) => p.re.test(c.req.path));
    if (matching.length > 0) {
      const res = problemResponse(c, new AppError("METHOD_NOT_ALLOWED", `${c.req.method} is not supported on ${c.req.path}`));
      res.headers.set("allow", [...new Set(matching.map((m) => m.method))].join(", "));
      return res;
    }
    throw new AppError("NOT_FOUND", `No API operation at ${c.req.path}`);
  });
  return doc;
}

/**
 * One REST operation, in this order:
 * 1. the request context and the caller (401 on a non-public route without valid credentials);
 * 2. a query parameter given twice is refused rather than guessed at, like a key repeated in a
 *    JSON object (400);
 * 3. the body is read within the size limit (413, chunked bodies included), must be JSON (415),
 *    UTF-8, without repeated keys and not too deep (400), and is parsed once;
 * 4. path parameters: one that names nothing that can exist is the resource's 404, worded as the
 *    service words an unknown id;
 * 5. query and body against the route's schemas (an absent optional body as `{}`): 400 listing
 *    every invalid field;
 * 6. the handler, with typed input; then the headers and cookies the service set.
 */
function serve(route: AnyRestRoute, ctxOf: (c: Context<AppEnv>) => Ctx, maxBodyBytes: number) {
  const queryNames = new Set(route.query && "shape" in route.query ? Object.keys(route.query.shape as object) : []);
  return async (c: Context<AppEnv>) => {
    const ctx = ctxOf(c);
    c.set("ctx", ctx);
    if (!route.public) {
      ctx.principal = await resolvePrincipal(ctx, c.req.raw);
      if (ctx.principal.kind === "anonymous") {
        throw new AppError("UNAUTHORIZED", "Credentials are required: send X-API-Key or Authorization: Bearer, or sign in");
      }
    }
    if (queryNames.size > 0 && c.req.url.includes("&")) {
      const seen = new Set<string>();
      const repeated = new Set<string>();
      for (const name of new URL(c.req.url).searchParams.keys()) {
        if (queryNames.has(name) && seen.has(name)) repeated.add(name);
        seen.add(name);
      }
      if (repeated.size > 0) throw validationError([...repeated].map((path) => ({ path, message: "is given more than once" })));
    }
    const json = route.body ? await readJsonBody(c, maxBodyBytes, route.bodyOptional ?? false) : undefined;
    let params: unknown;
    if (route.params) {
      const parsed = route.params.safeParse(c.req.param());
      if (!parsed.success) throw notFound(resourceOf(route.params));
      params = parsed.data;
    }
    const query = route.query ? validated(route.query, c.req.query(), "(query)") : undefined;
    const body = route.body ? validated(route.body, json === undefined ? {} : json, "(body)") : undefined;
    const result = await route.handler({ ctx, params, query, body, c });
    const res = result instanceof Response ? result : c.json(result as object, route.status ?? 200);
    ctx.resHeaders!.forEach((value, name) => {
      if (name !== "set-cookie") res.headers.set(name, value);
    });
    for (const cookie of ctx.resHeaders!.getSetCookie()) res.headers.append("set-cookie", cookie);
    return res;
  };
}

/** Parses with a route's schema; every issue becomes a field error of one 400. */
function validated(schema: ZodType, value: unknown, whole: "(query)" | "(body)"): unknown {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors = fieldErrorsFromZod(parsed.error);
  for (const e of errors) if (e.path === "(body)") e.path = whole;
  throw validationError(errors);
}
