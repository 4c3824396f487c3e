import type { Database } from "../../db/client";
import type { KeyPermission, Principal, Role } from "../../server/auth/principal";
import * as keys from "../../server/modules/keys/service";
import { keyCreateInput } from "../../server/modules/keys/schema";
import * as users from "../../server/modules/users/service";
import { userCreateInput } from "../../server/modules/users/schema";
import { ctxFor, user } from "./actors";
import { noteSecret } from "./log-capture";

let seq = 0;
export const uniqueEmail = (label = "user") => `${label}-${Date.now().toString(36)}${(seq++).toString(36)}@example.test`;
export const PASSWORD = "correct horse battery";
noteSecret(PASSWORD, "the fixtures' password");

const owners = new WeakMap<Database, Promise<Principal>>();

/** A real platform owner of this database (created once), acting for fixtures. */
export function fixtureOwner(database: Database): Promise<Principal> {
  let owner = owners.get(database);
  if (!owner) {
    owner = users
      .create({ ctx: ctxFor(database, user("owner")), input: userCreateInput.parse({ email: uniqueEmail("fixture-owner"), password: PASSWORD, role: "owner" }) })
      .then((u) => ({ kind: "user", userId: u.id, email: u.email, role: "owner", orgId: null, sessionId: "fixture" }) as Principal);
    owners.set(database, owner);
  }
  return owner;
}

/** Creates a real staff user through the service (as a platform owner). */
export async function makeUser(database: Database, role: Role, orgId: string | null = null, options: { email?: string; password?: string } = {}) {
  const email = options.email ?? uniqueEmail(role);
  const password = options.password ?? PASSWORD;
  const ctx = ctxFor(database, await fixtureOwner(database));
  noteSecret(password, `password of ${email}`);
  const created = await users.create({ ctx, input: userCreateInput.parse({ email, password, role, org_id: orgId }) });
  return { ...created, password };
}

/** Creates a real API key through the service (as a platform owner); returns the secret once. */
export async function makeKey(database: Database, permission: KeyPermission, orgId: string | null = null) {
  const ctx = ctxFor(database, await fixtureOwner(database));
  const created = await keys.create({ ctx, input: keyCreateInput.parse({ name: `${permission} key ${seq++}`, permission, org_id: orgId }) });
  noteSecret(created.key, `API key ${created.prefix}`);
  return created;
}

export type Credentials = { key: string } | { cookie: string } | null;

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  /** What was sent: method, path and body, as text (to tell an echo of the request from a leak). */
  request: string;
}

/** Headers a browser (cookie, with our Origin) or a tool (API key) would send. */
export function authHeaders(base: string, credentials: Credentials): Record<string, string> {
  if (!credentials) return {};
  if ("key" in credentials) return { "x-api-key": credentials.key };
  return { cookie: credentials.cookie, origin: base };
}

/** One HTTP call as `credentials`: REST paths as given, JSON in and out. */
export async function call<T = any>(base: string, credentials: Credentials, method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Reply<T>> {
  const res = await fetch(base + path, {
    method,
    headers: { ...authHeaders(base, credentials), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...extra },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed as T, request: `${method} ${path} ${body === undefined ? "" : JSON.stringify(body)}` };
}

/** A tRPC call over HTTP (no batching): queries as GET `?input=`, mutations as POST. Body = data or error. */
export async function trpc<T = any>(base: string, credentials: Credentials, kind: "query" | "mutation", path: string, input?: unknown, extra: Record<string, string> = {}): Promise<Reply<T>> {
  const reply =
    kind === "query"
      ? await call(base, credentials, "GET", `/trpc/${path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}`, undefined, extra)
      : await call(base, credentials, "POST", `/trpc/${path}`, input ?? {}, extra);
  const body = reply.body?.result ? reply.body.result.data : reply.body?.error ?? reply.body;
  return { ...reply, body };
}

/** Signs in through the web app's procedure; returns the `Cookie` header value of the new session. */
export async function signIn(base: string, email: string, password: string): Promise<{ cookie: string; reply: Reply }> {
  const reply = await trpc(base, null, "mutation", "auth.signIn", { email, password }, { origin: base });
  const setCookie = reply.headers.getSetCookie().find((c) => c.startsWith("orgdesk_session="));
  return { cookie: setCookie ? setCookie.split(";")[0]! : "", reply };
}
