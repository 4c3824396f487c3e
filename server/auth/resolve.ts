import type { Ctx } from "../context";
import { AppError } from "../errors";
import { principalForSession } from "../modules/auth/service";
import { principalForKey } from "../modules/keys/service";
import { ANONYMOUS, type Principal } from "./principal";
import { readCookie, SESSION_COOKIE, sameHash, sessionCookie } from "./secrets";

/** The credential a request presents: `X-API-Key`, or `Authorization: Bearer`. */
export function presentedKey(headers: Headers): string | null {
  const key = headers.get("x-api-key");
  if (key) return key.trim();
  const auth = headers.get("authorization");
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "").trim();
  return null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** This server's own origin as the browser sees it (behind a trusted proxy, the forwarded one). */
export function ownOrigin(req: Request, trustProxy: boolean): string {
  const url = new URL(req.url);
  if (trustProxy) {
    const proto = req.headers.get("x-forwarded-proto")?.split(",")[0]?.trim();
    const host = req.headers.get("x-forwarded-host")?.split(",")[0]?.trim() ?? req.headers.get("host");
    if (proto && host) return `${proto}://${host}`;
  }
  return url.origin;
}

/**
 * Whether a browser request comes from our own pages: its Origin is ours, or, when a browser sends
 * no Origin, Sec-Fetch-Site says same-origin. A request with neither is not trusted.
 */
export function isSameOrigin(req: Request, trustProxy: boolean): boolean {
  const origin = req.headers.get("origin");
  if (origin) return origin === ownOrigin(req, trustProxy);
  return req.headers.get("sec-fetch-site") === "same-origin";
}

/**
 * Resolves the caller, the same way for REST and tRPC:
 * 1. an API key (header) — ADMIN_API_KEY or a stored key; an unknown or revoked key is 401, never
 *    silently anonymous, so a typo in a key is reported as such;
 * 2. else the session cookie — the user is re-read on every request; a dead session counts as no
 *    session (and its cookie is cleared); a cookie-authenticated write must be same-origin (403);
 * 3. else anonymous. A cross-origin write without credentials (e.g. a forged sign-in) is refused too.
 */
export async function resolvePrincipal(ctx: Ctx, req: Request): Promise<Principal> {
  const key = presentedKey(req.headers);
  if (key !== null) {
    if (ctx.config.adminApiKey && sameHash(key, ctx.config.adminApiKey)) {
      return { kind: "api_key", keyId: null, prefix: "env", permission: "write", orgId: null };
    }
    const principal = key ? await principalForKey(ctx, key) : null;
    if (!principal) throw new AppError("UNAUTHORIZED", "The API key is invalid or revoked");
    return principal;
  }
  const unsafe = !SAFE_METHODS.has(req.method.toUpperCase());
  const token = readCookie(req.headers.get("cookie"), SESSION_COOKIE);
  if (token) {
    const principal = await principalForSession(ctx, token);
    if (principal) {
      if (unsafe && !isSameOrigin(req, ctx.config.trustProxy)) {
        throw new AppError("FORBIDDEN", "A request authenticated by the session cookie must come from this site");
      }
      return principal;
    }
    ctx.resHeaders?.append("set-cookie", sessionCookie("", 0, ctx.secure ?? false));
  }
  if (unsafe && req.headers.has("origin") && !isSameOrigin(req, ctx.config.trustProxy)) {
    throw new AppError("FORBIDDEN", "Requests from another site are not accepted");
  }
  return ANONYMOUS;
}
