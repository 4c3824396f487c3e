import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Secrets: passwords (argon2id, slow on purpose) and random bearer tokens (session tokens, API
 * keys), which carry 256 bits of entropy and so are stored as a plain SHA-256.
 */

export const SESSION_COOKIE = "orgdesk_session";

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;
/** Spends the time of a real verification, so an unknown email answers as slowly as a wrong password. */
export async function verifyNothing(password: string): Promise<void> {
  dummyHash ??= hashPassword("not a password of anyone");
  await verifyPassword(password, await dummyHash);
}

export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A new session token (256 random bits, base64url). */
export const newSessionToken = () => randomBytes(32).toString("base64url");

const KEY_FORMAT = /^odk_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;

/** A new API key `odk_<prefix>_<secret>`: the prefix is public (listed), the secret is 256 random bits. */
export function newApiKey(): { key: string; prefix: string } {
  const prefix = randomBytes(8).toString("hex").slice(0, 10);
  const key = `odk_${prefix}_${randomBytes(32).toString("base64url")}`;
  return { key, prefix };
}

/** The prefix of a well-formed API key, or null when the string cannot be one of ours. */
export function apiKeyPrefix(key: string): string | null {
  return KEY_FORMAT.exec(key)?.[1] ?? null;
}

/** The value of one cookie in a Cookie header. */
export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** Set-Cookie value for the session cookie; `maxAgeSeconds` 0 clears it. */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Lax",
    `Max-Age=${maxAgeSeconds}`,
    ...(maxAgeSeconds === 0 ? ["Expires=Thu, 01 Jan 1970 00:00:00 GMT"] : []),
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}
