import { trpcServer } from "@hono/trpc-server";
import { TRPCError } from "@trpc/server";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { ZodError } from "zod";
import { getConnInfo } from "hono/bun";
import { type Dirent, existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { ownOrigin, presentedKey, resolvePrincipal } from "./auth/resolve";
import { readCookie, SESSION_COOKIE } from "./auth/secrets";
import * as limits from "./modules/limits/service";
import { ANONYMOUS } from "./auth/principal";
import type { Ctx, Deps } from "./context";
import { AppError, causes, ERRORS, toAppError, toProblem } from "./errors";
import { mountRest } from "./rest/mount";
import { type AppEnv, jsonStructureProblem, readBodyText } from "./rest/route";
import { restRoutes } from "./rest/routes";
import { appRouter } from "./trpc/router";
import * as reads from "./modules/reads/service";
import { metricsHandler, observeRequests } from "./observability/http";
import { configureLogging, log } from "./observability/log";
import { createMetrics, type Metrics } from "./observability/metrics";

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
  if (err === null || typeof err !== "object") return String(err).slice(0, 500);
  const lines: string[] = [];
  for (const x of causes(err)) {
    if (lines.length === 5) break;
    const message = String(x.message ?? "").split(/\nparams:/)[0]!.slice(0, 2000);
    // Only the frames: the stack's first lines repeat the message, parameters included.
    const stack = String(x.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).slice(0, 6).join("\n");
    lines.push(`${String(x.name ?? "Error")}${typeof x.code === "string" ? ` [${x.code}]` : ""}: ${message}${stack ? "\n" + stack : ""}`);
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
  const ctxOf = requestCtx(deps, metrics);
  // First: times the request and logs it once the response, error responses included, is final.
  app.use("*", observeRequests(metrics, new Set(Object.keys(appRouter._def.procedures))));
  app.use("*", requestIdAndHeaders());
  // Prometheus scrapes: outside /api, so never rate-limited (docs/operations.md, Metrics).
  app.get("/metrics", metricsHandler(metrics, config.metricsToken));
  app.onError((err, c) => {
    const res = problemResponse(c, err);
    // E.g. clearing a dead session's cookie on the 401 it caused.
    for (const cookie of c.get("ctx")?.resHeaders?.getSetCookie() ?? []) res.headers.append("set-cookie", cookie);
    return res;
  });
  const limited = rateLimiting(deps, new Set(restRoutes.filter((r) => r.public).map((r) => r.path)));
  app.use("/api/*", limited);
  app.use("/trpc/*", limited);
  mountRest(app, { routes: restRoutes, config: deps.config, ctxOf, problemResponse });
  mountTrpc(app, deps, ctxOf);
  if (deps.config.webDir) serveWebApp(app, resolve(deps.config.webDir));
  app.notFound((c) => problemResponse(c, new AppError("NOT_FOUND", `Nothing at ${c.req.path}`)));
  return app;
}

/**
 * The request id (a sane incoming `X-Request-Id` is kept) for logs and every response, and the
 * security headers on every response; API answers are never cached.
 */
function requestIdAndHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
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
  };
}

/**
 * Rate limits, before any other work: per presented credential and per client address, counted in
 * PostgreSQL so that every instance shares them. Public REST routes (health, for load balancers)
 * stay unlimited. Every
 * counted answer says where the caller stands in its most constraining limit (`RateLimit-Limit`,
 * `-Remaining`, `-Reset`); over it the answer is 429 with `Retry-After` (docs/api.md).
 */
function rateLimiting({ database, config }: Deps, unlimited: Set<string>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (unlimited.has(c.req.path)) return next();
    const buckets: limits.Bucket[] = [{ bucket: limits.addressBucket(clientIp(c, config.trustProxy)), limit: config.rateLimitPerAddress }];
    const key = presentedKey(c.req.raw.headers);
    if (key) buckets.push({ bucket: limits.credentialBucket("key", key), limit: config.rateLimitPerKey });
    const session = readCookie(c.req.header("cookie") ?? null, SESSION_COOKIE);
    if (session) buckets.push({ bucket: limits.credentialBucket("session", session), limit: config.rateLimitPerKey });
    const standing = await limits.stand({ db: database.db, buckets, windowSeconds: config.rateLimitWindowSeconds });
    if (standing && standing.retryAfter > 0) {
      const res = problemResponse(c, limits.rateLimited(standing));
      setRateLimitHeaders(res.headers, standing);
      return res;
    }
    await next();
    if (standing) setRateLimitHeaders(c.res.headers, standing);
    // Read-your-writes with a replica: remember where this caller's write left the primary.
    const ctx = c.get("ctx");
    if (database.replica && ctx && !["GET", "HEAD", "OPTIONS"].includes(c.req.method) && c.res.status < 400) await reads.noteWrite(ctx);
  };
}

function setRateLimitHeaders(headers: Headers, standing: limits.Standing) {
  headers.set("ratelimit-limit", String(standing.limit));
  headers.set("ratelimit-remaining", String(standing.remaining));
  headers.set("ratelimit-reset", String(standing.resetSeconds));
}

/** The service context of a request, before its caller is known. */
function requestCtx({ database, config }: Deps, metrics: Metrics) {
  return (c: Context<AppEnv>, resHeaders: Headers = new Headers()): Ctx => ({
    db: database.db,
    config,
    principal: ANONYMOUS,
    requestId: c.get("requestId"),
    ip: clientIp(c, config.trustProxy),
    resHeaders,
    replica: database.replica,
    metrics,
    origin: ownOrigin(c.req.raw, config.trustProxy),
    secure: c.req.url.startsWith("https:") || (config.trustProxy && c.req.header("x-forwarded-proto") === "https"),
  });
}

/** tRPC for the web app, with the same body limit as REST and Retry-After on 429 and 503. */
function mountTrpc(app: Hono<AppEnv>, { config }: Deps, ctxOf: ReturnType<typeof requestCtx>) {
  // Also for bodies that do not declare their length (chunked): read within the limit, checked as
  // every JSON body is (repeated keys, nesting, half surrogate pairs: docs/api.md), then hand tRPC the text.
  app.use("/trpc/*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const text = await readBodyText(c, config.maxBodyBytes);
      const problem = jsonStructureProblem(text);
      if (problem) throw new AppError("BAD_REQUEST", problem);
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
        const ctx = ctxOf(c as Context<AppEnv>, opts.resHeaders);
        (c as Context<AppEnv>).set("ctx", ctx);
        try {
          ctx.principal = await resolvePrincipal(ctx, c.req.raw);
        } catch (err) {
          const appError = toAppError(err);
          throw new TRPCError({ code: ERRORS[appError.code].trpc, message: appError.message, cause: appError });
        }
        return ctx as unknown as Record<string, unknown>;
      },
      responseMeta: ({ errors }) => {
        const retryAfter = errors.map((e) => (e.cause instanceof AppError ? e.cause.retryAfter : undefined)).find((s) => s !== undefined);
        return retryAfter ? { headers: new Headers({ "retry-after": String(retryAfter) }) } : {};
      },
    }),
  );
}

/**
 * Content codings a request accepts, by `Accept-Encoding` (RFC 9110 §12.5.3): a coding listed with
 * a weight above 0, or covered by `*` without being refused by name.
 */
export function acceptsEncoding(header: string | undefined, coding: string): boolean {
  if (!header) return false;
  let star: boolean | undefined;
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    const accepted = Number.isFinite(weight) && weight > 0;
    if (name.trim() === coding) return accepted;
    if (name.trim() === "*") star = accepted;
  }
  return star ?? false;
}

/** The build's compressed copies (`web/svelte.config.js` writes them), best first. */
const PRECOMPRESSED = [
  { coding: "br", suffix: ".br" },
  { coding: "gzip", suffix: ".gz" },
] as const;

/** A file of the built web app, with the compressed copies the build wrote for it. */
interface WebFile {
  path: string;
  copies: { coding: string; path: string }[];
}

/**
 * Every file of the built web app, by its absolute path, listed once at start: a request then
 * looks its file up in memory instead of asking the disk whether it and each copy exist. The
 * build is replaced only by a deploy, which restarts the server.
 */
function listWebFiles(webDir: string): Map<string, WebFile> {
  const paths = new Set(
    (readdirSync(webDir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name)),
  );
  const files = new Map<string, WebFile>();
  for (const path of paths) {
    const copies = PRECOMPRESSED.filter(({ suffix }) => paths.has(path + suffix)).map(({ coding, suffix }) => ({ coding, path: path + suffix }));
    files.set(path, { path, copies });
  }
  return files;
}

/**
 * A file of the built web app as a response: its brotli or gzip copy when the build wrote one and
 * the request accepts that coding (a first visit downloads about a third of the bytes), else the
 * file itself. Either way with the file's own content type.
 */
function webFile(file: WebFile, acceptEncoding: string | undefined, headers: Record<string, string>): Response {
  const body = Bun.file(file.path);
  const common = { ...headers, "content-type": headers["content-type"] ?? body.type, vary: headers.vary ?? "accept-encoding" };
  const copy = file.copies.find(({ coding }) => acceptsEncoding(acceptEncoding, coding));
  if (copy) return new Response(Bun.file(copy.path), { headers: { ...common, "content-encoding": copy.coding } });
  return new Response(body, { headers: common });
}

/** The built web app (when `webDir` holds one), with the SPA fallback for client-side routes only. */
function serveWebApp(app: Hono<AppEnv>, webDir: string) {
  if (!existsSync(join(webDir, "index.html"))) return;
  const files = listWebFiles(webDir);
  const indexHtml = files.get(join(webDir, "index.html"))!;
  app.get("*", async (c) => {
    let path: string;
    try {
      path = decodeURIComponent(c.req.path);
    } catch {
      throw new AppError("BAD_REQUEST", "The path is not valid URL encoding");
    }
    if (path.startsWith("/trpc")) throw new AppError("NOT_FOUND", "No such procedure");
    const acceptEncoding = c.req.header("accept-encoding");
    const file = path.endsWith("/") ? undefined : files.get(resolve(webDir, "." + path));
    if (file) {
      const immutable = path.startsWith("/_app/immutable/");
      return webFile(file, acceptEncoding, { "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" });
    }
    // A path that names a file (has an extension) and is missing is a 404, not the app shell.
    if (/\.[a-z0-9]+$/i.test(path)) return c.text("Not found", 404);
    // A route the build rendered ahead (`<route>.html`, docs/web.md "First visit") for a visitor
    // with a session cookie, else the app shell. The rendered page draws the signed-in frame; a
    // visitor without a session would see it flash before being sent to sign in.
    const hasSessionCookie = Boolean(readCookie(c.req.header("cookie") ?? null, SESSION_COOKIE));
    const page = hasSessionCookie && !path.endsWith("/") ? files.get(resolve(webDir, "." + path + ".html")) : undefined;
    return webFile(page ?? indexHtml, acceptEncoding, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", vary: "accept-encoding, cookie" });
  });
}
