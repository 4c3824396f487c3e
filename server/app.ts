import { trpcServer } from "@hono/trpc-server";
import { TRPCError } from "@trpc/server";
import { Hono, type Context } from "hono";
import { ZodError } from "zod";
import { getConnInfo } from "hono/bun";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { presentedKey, resolvePrincipal } from "./auth/resolve";
import { readCookie, SESSION_COOKIE } from "./auth/secrets";
import * as limits from "./modules/limits/service";
import { ANONYMOUS } from "./auth/principal";
import type { Ctx, Deps } from "./context";
import { AppError, ERRORS, toAppError, toProblem } from "./errors";
import { buildOpenApi, renderDocsPage } from "./rest/openapi";
import { type AppEnv, parseWith, readBodyText, readJsonBody, type RestRoute } from "./rest/route";
import { restRoutes } from "./rest/routes";
import { appRouter } from "./trpc/router";
import * as reads from "./modules/reads/service";
import { metricsHandler, observeRequests } from "./observability/http";
import { configureLogging, log } from "./observability/log";
import { createMetrics } from "./observability/metrics";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;


function clientIp(c: Context<AppEnv>, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * A log line for an unexpected error and its causes: name, SQLSTATE, message and stack, never
 * the bound parameters (Drizzle puts them in its message; they can hold secrets and personal data).
 */
export function describeError(err: unknown): string {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && !seen.has(e) && lines.length < 5) {
    seen.add(e);
    if (e instanceof Error || (typeof e === "object" && "message" in e)) {
      const x = e as Error & { code?: unknown };
      const message = String(x.message ?? "").split(/\nparams:/)[0]!.slice(0, 2000);
      // Only the frames: the stack's first lines repeat the message, parameters included.
      const stack = (x.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).slice(0, 6).join("\n");
      lines.push(`${x.name ?? "Error"}${typeof x.code === "string" ? ` [${x.code}]` : ""}: ${message}${stack ? "\n" + stack : ""}`);
      e = (e as { cause?: unknown }).cause;
    } else {
      lines.push(String(e).slice(0, 500));
      break;
    }
  }
  return lines.join("\ncaused by ");
}

/** Problem+json response for anything thrown; internal details go to the log, never the client. */
export function problemResponse(c: Context<AppEnv>, err: unknown): Response {
  const appError = toAppError(err);
  const requestId = c.get("requestId") ?? "";
  // Anything that did not start as an AppError or a validation error came from below (database,
  // driver, a bug): log it, without the request's headers or body.
  if (!(err instanceof AppError) && !(err instanceof ZodError)) {
    log.error("unexpected error", { request_id: requestId, method: c.req.method, path: c.req.path, error: describeError(err) });
  }
  const problem = toProblem(appError, requestId);
  const headers: Record<string, string> = { "content-type": "application/problem+json" };
  if (appError.retryAfter) headers["retry-after"] = String(appError.retryAfter);
  return new Response(JSON.stringify(problem), { status: problem.status, headers });
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "strict-origin-when-cross-origin",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "content-security-policy":
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
};

/** Builds the HTTP application: REST adapters, tRPC, API docs and the web app, with one error path. */
export function createApp(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { config } = deps;
  configureLogging({ level: config.logLevel, secrets: [config.adminApiKey, config.metricsToken, config.adminPassword] });
  const metrics = deps.metrics ?? createMetrics(deps.database);

  // First: times the request and logs it once the response, error responses included, is final.
  app.use("*", observeRequests(metrics, new Set(Object.keys(appRouter._def.procedures))));
  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", requestId);
    await next();
    c.res.headers.set("x-request-id", requestId);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    // API answers are per caller: never stored by a browser or a shared cache.
    if ((c.req.path.startsWith("/api/") || c.req.path.startsWith("/trpc/")) && !c.res.headers.has("cache-control")) {
      c.res.headers.set("cache-control", "no-store");
    }
    if (c.req.header("x-forwarded-proto") === "https" || c.req.url.startsWith("https:")) {
      c.res.headers.set("strict-transport-security", "max-age=31536000; includeSubDomains");
    }
  });

  // Prometheus scrapes: outside /api, so never rate-limited (docs/operations.md, Metrics).
  app.get("/metrics", metricsHandler(metrics, config.metricsToken));

  app.onError((err, c) => {
    const res = problemResponse(c, err);
    // E.g. clearing a dead session's cookie on the 401 it caused.
    for (const cookie of c.get("ctx")?.resHeaders?.getSetCookie() ?? []) res.headers.append("set-cookie", cookie);
    return res;
  });

  // Rate limits, before any other work: per presented credential and per client address, counted
  // in PostgreSQL so that every instance shares them. Health stays unlimited for load balancers.
  const limited = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    if (c.req.path === "/api/health") return next();
    const buckets: limits.Bucket[] = [{ bucket: limits.addressBucket(clientIp(c, config.trustProxy)), limit: config.rateLimitPerAddress }];
    const key = presentedKey(c.req.raw.headers);
    if (key) buckets.push({ bucket: limits.credentialBucket("key", key), limit: config.rateLimitPerKey });
    const session = readCookie(c.req.header("cookie") ?? null, SESSION_COOKIE);
    if (session) buckets.push({ bucket: limits.credentialBucket("session", session), limit: config.rateLimitPerKey });
    await limits.charge({ db: deps.database.db, buckets, windowSeconds: config.rateLimitWindowSeconds });
    await next();
    // Read-your-writes with a replica: remember where this caller's write left the primary.
    const ctx = c.get("ctx");
    if (deps.database.replica && ctx && !["GET", "HEAD", "OPTIONS"].includes(c.req.method) && c.res.status < 400) await reads.noteWrite(ctx);
  };
  app.use("/api/*", limited);
  app.use("/trpc/*", limited);

  const baseCtx = (c: Context<AppEnv>, resHeaders: Headers = new Headers()): Ctx => ({
    db: deps.database.db,
    database: deps.database,
    config,
    principal: ANONYMOUS,
    requestId: c.get("requestId"),
    ip: clientIp(c, config.trustProxy),
    resHeaders,
    metrics,
    secure: c.req.url.startsWith("https:") || (config.trustProxy && c.req.header("x-forwarded-proto") === "https"),
  });

  // API documentation, public.
  const openapi = buildOpenApi(restRoutes);
  const docsPage = renderDocsPage(openapi);
  app.get("/api/openapi.json", (c) => c.json(openapi));
  app.get("/api/docs", (c) => c.html(docsPage));

  // REST adapters.
  const mount = (route: RestRoute) => {
    app.on(route.method.toUpperCase(), route.path, async (c) => {
      const ctx = baseCtx(c);
      c.set("ctx", ctx);
      if (!route.public) {
        ctx.principal = await resolvePrincipal(ctx, c.req.raw);
        if (ctx.principal.kind === "anonymous") {
          throw new AppError("UNAUTHORIZED", "Credentials are required: send X-API-Key or Authorization: Bearer, or sign in");
        }
      }
      const query = route.query ? parseWith(route.query, c.req.query(), "query") : undefined;
      let body: unknown;
      if (route.body) {
        const raw = await readJsonBody(c, config.maxBodyBytes, route.bodyOptional ?? false);
        body = raw === undefined ? undefined : parseWith(route.body, raw, "body");
      }
      const result = await route.handler({ ctx, params: c.req.param() as Record<string, string>, query, body, c });
      const res = result instanceof Response ? result : c.json(result as object, (route.status ?? 200) as 200);
      ctx.resHeaders!.forEach((value, name) => {
        if (name !== "set-cookie") res.headers.set(name, value);
      });
      for (const cookie of ctx.resHeaders!.getSetCookie()) res.headers.append("set-cookie", cookie);
      return res;
    });
  };
  restRoutes.forEach(mount);

  // Unknown API paths: 405 when the path exists with another method, else 404, always problem+json.
  const patterns = restRoutes.map((r) => ({ method: r.method.toUpperCase(), re: new RegExp("^" + r.path.replace(/:\w+/g, "[^/]+") + "/?$") }));
  app.all("/api/*", (c) => {
    const matching = patterns.filter((p) => p.re.test(c.req.path));
    if (matching.length > 0) {
      const res = problemResponse(c, new AppError("METHOD_NOT_ALLOWED", `${c.req.method} is not supported on ${c.req.path}`));
      res.headers.set("allow", [...new Set(matching.map((m) => m.method))].join(", "));
      return res;
    }
    throw new AppError("NOT_FOUND", `No API operation at ${c.req.path}`);
  });

  // tRPC for the web app.
  // The same body limit as REST, also for bodies that do not declare their length (chunked):
  // read within the limit, then hand tRPC the text.
  app.use("/trpc/*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const text = await readBodyText(c, config.maxBodyBytes);
      c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers: c.req.raw.headers, body: text, signal: c.req.raw.signal });
    }
    await next();
  });
  app.use(
    "/trpc/*",
    trpcServer({
      router: appRouter,
      endpoint: "/trpc",
      createContext: async (opts, c) => {
        const ctx = baseCtx(c as Context<AppEnv>, opts.resHeaders);
        (c as Context<AppEnv>).set("ctx", ctx);
        try {
          ctx.principal = await resolvePrincipal(ctx, c.req.raw);
        } catch (err) {
          const appError = toAppError(err);
          throw new TRPCError({ code: ERRORS[appError.code].trpc, message: appError.message, cause: appError });
        }
        return ctx as unknown as Record<string, unknown>;
      },
      // Retry-After for rate limits and unavailability, as on REST.
      responseMeta: ({ errors }) => {
        const retryAfter = errors.map((e) => (e.cause instanceof AppError ? e.cause.retryAfter : undefined)).find((s) => s !== undefined);
        return retryAfter ? { headers: new Headers({ "retry-after": String(retryAfter) }) } : {};
      },
    }),
  );

  // The built web app, with the SPA fallback for client-side routes only.
  const webDir = config.webDir ? resolve(config.webDir) : undefined;
  if (webDir && existsSync(join(webDir, "index.html"))) {
    const indexHtml = Bun.file(join(webDir, "index.html"));
    app.get("*", async (c) => {
      let path: string;
      try {
        path = decodeURIComponent(c.req.path);
      } catch {
        throw new AppError("BAD_REQUEST", "The path is not valid URL encoding");
      }
      if (path.startsWith("/trpc")) throw new AppError("NOT_FOUND", "No such procedure");
      const file = resolve(webDir, "." + path);
      if (file.startsWith(webDir + "/") && !path.endsWith("/")) {
        const f = Bun.file(file);
        if (await f.exists()) {
          const immutable = path.startsWith("/_app/immutable/");
          return new Response(f, { headers: { "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" } });
        }
      }
      // A path that names a file (has an extension) and is missing is a 404, not the app shell.
      if (/\.[a-z0-9]+$/i.test(path)) return c.text("Not found", 404);
      return new Response(indexHtml, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });
    });
  }

  app.notFound((c) => problemResponse(c, new AppError("NOT_FOUND", `Nothing at ${c.req.path}`)));
  return app;
}
