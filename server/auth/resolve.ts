import { timingSafeEqual } from "node:crypto";
import type { Deps } from "../context";
import { AppError } from "../errors";
import { ANONYMOUS, type Principal } from "./principal";

/** The credential a request presents: `X-API-Key`, or `Authorization: Bearer`. */
export function presentedKey(headers: Headers): string | null {
  const key = headers.get("x-api-key");
  if (key) return key.trim();
  const auth = headers.get("authorization");
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "").trim();
  return null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Resolves the caller. Presented credentials that are wrong are an error (401), never silently
 * anonymous, so a typo in a key is reported as such.
 */
export async function resolvePrincipal(deps: Deps, headers: Headers): Promise<Principal> {
  const key = presentedKey(headers);
  if (key !== null) {
    if (deps.config.adminApiKey && sameSecret(key, deps.config.adminApiKey)) {
      return { kind: "api_key", keyId: null, prefix: "env", permission: "write", orgId: null };
    }
    throw new AppError("UNAUTHORIZED", "The API key is invalid or revoked");
  }
  return ANONYMOUS;
}
