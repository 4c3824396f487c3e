import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { sameHash } from "../auth/secrets";
import { AppError } from "../errors";
import { log } from "./log";
import type { Metrics } from "./metrics";

/**
 * The route template a request matched, never its raw path (ids would make one series per row):
 * the REST route (`/api/organizations/:id`), `/trpc/<procedure>` for a known tRPC procedure,
 * `/trpc/(batch)` for several at once, and fixed names for everything else.
 */
export function routeTemplate(c: Context, procedures: ReadonlySet<string>): string {
  const path = c.req.path;
  if (path === "/trpc" || path.startsWith("/trpc/")) {
    const names = path.slice("/trpc/".length).split(",");
    if (names.length > 0 && names.every((n) => procedures.has(n))) return names.length === 1 ? `/trpc/${names[0]}` : "/trpc/(batch)";
    return "/trpc/(unknown)";
  }
  const routes = matchedRoutes(c);
  // A specific route (a method and a path other than a catch-all), whether or not its handler ran
  // (a rate limit answers before it): the router matched it before any middleware ran.
  const specific = routes.find((r) => r.method !== "ALL" && !r.path.endsWith("*"));
  if (specific) return specific.path;
  if (routes.some((r) => r.path === "/api/*")) return "/api/(unknown)";
  if (routes.some((r) => r.method === "GET" && (r.path === "/*" || r.path === "*"))) return "(web)";
  return "(unmatched)";
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** A client may send any token as a method; anything else is one label, not a series per token. */
const methodLabel = (method: string) => (METHODS.has(method) ? method : "OTHER");

/**
 * Times every request, counts it by route template and status, and writes one JSON log line: time,
 * request id, method, route, status, duration and the kind of caller. Goes first, so it sees the
 * final response (the error path's too).
 */
export function observeRequests(metrics: Metrics, procedures: ReadonlySet<string>): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = routeTemplate(c, procedures);
      const status = c.res?.status ?? 500;
      const method = methodLabel(c.req.method);
      metrics.request(method, route, status, seconds);
      const principal = (c.get("ctx") as { principal?: { kind: string } } | undefined)?.principal?.kind ?? "anonymous";
      (status >= 500 ? log.error : log.info)("request", {
        request_id: c.get("requestId"),
        method,
        route,
        status,
        duration_ms: Math.round(seconds * 100_000) / 100,
        principal,
      });
    }
  };
}

/**
 * `GET /metrics`: absent (404) unless a token is configured; then only with `Authorization: Bearer
 * <token>` (401 otherwise). Outside `/api`, so not rate-limited: a scraper calls it every few seconds.
 */
export function metricsHandler(metrics: Metrics, token: string | undefined) {
  return async (c: Context) => {
    if (!token) throw new AppError("NOT_FOUND", `Nothing at ${c.req.path}`);
    const presented = /^bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
    if (!presented || !sameHash(presented, token)) throw new AppError("UNAUTHORIZED", "A valid metrics token is required (Authorization: Bearer)");
    return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType, "cache-control": "no-store" } });
  };
}
