import { OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Context, Hono, MiddlewareHandler } from "hono";
import type { ZodError } from "zod";
import { resolvePrincipal } from "../auth/resolve";
import type { Config } from "../config";
import type { Ctx } from "../context";
import { AppError, fieldErrorsFromZod, notFound, validationError } from "../errors";
import { buildDocument, type OpenApiDocument, registerComponents, renderDocsPage, routeConfig } from "./openapi";
import { resourceOf } from "./params";
import { type AnyRestRoute, type AppEnv, readJsonBody } from "./route";

type ProblemResponder = (c: Context<AppEnv>, err: unknown) => Response;

/**
 * Mounts the REST adapters on `app`: every route of the table through @hono/zod-openapi (which
 * validates params, query and body with the route's schemas and registers it in the document),
 * `/api/openapi.json` and `/api/docs`, and the catch-all that answers 405 with `Allow` for a known
 * path and 404 for anything else under `/api`. Returns the document.
 */
export function mountRest(
  app: Hono<AppEnv>,
  { routes, config, ctxOf, problemResponse }: { routes: AnyRestRoute[]; config: Config; ctxOf: (c: Context<AppEnv>) => Ctx; problemResponse: ProblemResponder },
): OpenApiDocument {
  const rest = new OpenAPIHono<AppEnv>();
  registerComponents(rest);
  for (const route of routes) {
    for (const [name, schema] of Object.entries(route.components ?? {})) rest.openAPIRegistry.register(name, schema);
    const middleware = [authenticate(route, ctxOf), checkedBody(route, config.maxBodyBytes)] as RouteConfig["middleware"];
    rest.openapi(routeConfig(route, middleware), handlerOf(route) as never, validationHook(route) as never);
  }

  const doc = buildDocument(rest, routes, config);
  const docsPage = renderDocsPage(doc);
  app.get("/api/openapi.json", (c) => c.json(doc));
  app.get("/api/docs", (c) => c.html(docsPage));
  app.route("/", rest);

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

/** The request context, and the caller: 401 on a non-public route without valid credentials. */
function authenticate(route: AnyRestRoute, ctxOf: (c: Context<AppEnv>) => Ctx): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const ctx = ctxOf(c);
    c.set("ctx", ctx);
    if (!route.public) {
      ctx.principal = await resolvePrincipal(ctx, c.req.raw);
      if (ctx.principal.kind === "anonymous") {
        throw new AppError("UNAUTHORIZED", "Credentials are required: send X-API-Key or Authorization: Bearer, or sign in");
      }
    }
    await next();
  };
}

/**
 * Our checks of a body before the library's validator sees it: the size limit (413, chunked bodies
 * included), the media type (415), UTF-8, repeated keys and depth (400). The checked text is then
 * handed on as plain `application/json`, so the validator reads exactly what was checked; an
 * absent optional body reads as `{}`.
 */
function checkedBody(route: AnyRestRoute, maxBodyBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (route.body) {
      const text = (await readJsonBody(c, maxBodyBytes, route.bodyOptional ?? false)) ?? "{}";
      const headers = new Headers(c.req.raw.headers);
      headers.set("content-type", "application/json");
      headers.delete("content-length");
      headers.delete("transfer-encoding");
      c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers, body: text, signal: c.req.raw.signal });
    }
    await next();
  };
}

/**
 * A failed validation: a path parameter that names nothing possible is the resource's 404 (worded
 * as the service words an unknown id); query and body errors are a 400 listing every invalid field.
 */
function validationHook(route: AnyRestRoute) {
  return (result: { success: boolean; error?: ZodError; target: string }) => {
    if (result.success) return;
    if (result.target === "param") throw notFound(resourceOf(route.params!));
    const errors = fieldErrorsFromZod(result.error!);
    if (result.target === "query") for (const e of errors) if (e.path === "(body)") e.path = "(query)";
    throw validationError(errors);
  };
}

/** Calls the route's handler with the validated input; copies the headers and cookies the service set. */
function handlerOf(route: AnyRestRoute) {
  return async (c: Context<AppEnv>) => {
    const ctx = c.get("ctx");
    const valid = (target: "param" | "query" | "json") => (c.req.valid as (t: string) => unknown)(target);
    const result = await route.handler({ ctx, params: valid("param"), query: valid("query"), body: valid("json"), c });
    const res = result instanceof Response ? result : c.json(result as object, route.status ?? 200);
    ctx.resHeaders!.forEach((value, name) => {
      if (name !== "set-cookie") res.headers.set(name, value);
    });
    for (const cookie of ctx.resHeaders!.getSetCookie()) res.headers.append("set-cookie", cookie);
    return res;
  };
}
