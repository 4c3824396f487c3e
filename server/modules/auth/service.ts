import { and, eq, gt, isNull, lt, sql } from "drizzle-orm";
import type { z } from "zod";
import { type Database, type DbOrTx, rows } from "../../../db/client";
import { organizations, sessions, users } from "../../../db/schema";
import { ACTIONS, can, seesCosts } from "../../auth/policy";
import { ANONYMOUS, type Principal, type Role } from "../../auth/principal";
import { hashPassword, newSessionToken, sessionCookie, sha256, verifyNothing, verifyPassword } from "../../auth/secrets";
import type { Config } from "../../config";
import type { Ctx } from "../../context";
import { AppError } from "../../errors";
import * as audit from "../audit/service";
import * as limits from "../limits/service";
import { anyUser, normalizeEmail } from "../users/service";
import type { Me, setupInput, signInInput } from "./schema";

/** What the signed-in caller is and may do. */
export async function me({ ctx }: { ctx: Ctx; input?: unknown }): Promise<Me> {
  const p = ctx.principal;
  if (p.kind === "anonymous") throw new AppError("UNAUTHORIZED", "Credentials are required");
  const [org] = p.orgId
    ? await ctx.db.select({ id: organizations.id, name: organizations.name, slug: organizations.slug }).from(organizations).where(eq(organizations.id, p.orgId))
    : [];
  return {
    kind: p.kind,
    user: p.kind === "user" ? { id: p.userId, email: p.email, role: p.role } : null,
    key: p.kind === "api_key" ? { id: p.keyId, prefix: p.prefix, permission: p.permission } : null,
    org: org ?? null,
    sees_costs: seesCosts(p),
    permissions: ACTIONS.filter((a) => can(p, a)),
  };
}

/** Whether the one-time owner setup is still open (no user exists yet). */
export async function setupStatus({ ctx }: { ctx: Ctx; input?: unknown }) {
  return { setup_required: !(await anyUser(ctx.db)) };
}

/**
 * Inserts the first owner, only while no user exists. The partial unique index on
 * `is_first_owner` makes a concurrent second attempt insert nothing instead of a second owner.
 */
async function insertFirstOwner(db: DbOrTx, email: string, passwordHash: string): Promise<{ id: string } | undefined> {
  const [row] = await rows<{ id: string }>(
    db,
    sql`insert into ${users} (${sql.join([users.email, users.passwordHash, users.role, users.isFirstOwner].map((c) => sql.identifier(c.name)), sql`, `)})
        select ${email}, ${passwordHash}, 'owner', true
        where not exists (select 1 from ${users})
        on conflict do nothing
        returning ${users.id} as id`,
  );
  return row;
}

/** Opens a session for the user and sets its cookie on the response; returns the session id. */
async function startSession(tx: DbOrTx, ctx: Ctx, userId: string): Promise<string> {
  const token = newSessionToken();
  const ttlSeconds = ctx.config.sessionTtlHours * 3600;
  const [row] = await tx
    .insert(sessions)
    .values({ tokenHash: sha256(token), userId, expiresAt: new Date(Date.now() + ttlSeconds * 1000) })
    .returning({ id: sessions.id });
  ctx.resHeaders?.append("set-cookie", sessionCookie(token, ttlSeconds, ctx.secure ?? false));
  return row!.id;
}

/** The session's principal, as the next request will see it. */
function userPrincipal(row: { id: string; email: string; role: string; orgId: string | null }, sessionId: string): Principal {
  return { kind: "user", userId: row.id, email: row.email, role: row.role as Role, orgId: row.orgId, sessionId };
}

/** Creates the first owner from the setup page and signs them in; refused (409) once any user exists. */
export async function setup({ ctx, input }: { ctx: Ctx; input: z.infer<typeof setupInput> }): Promise<Me> {
  if (await anyUser(ctx.db)) throw new AppError("CONFLICT", "Setup is already done; sign in instead");
  const email = normalizeEmail(input.email);
  const passwordHash = await hashPassword(input.password);
  const principal = await ctx.db.transaction(async (tx) => {
    const row = await insertFirstOwner(tx, email, passwordHash);
    if (!row) throw new AppError("CONFLICT", "Setup is already done; sign in instead");
    const sessionId = await startSession(tx, ctx, row.id);
    await audit.record(tx, ctx, {
      action: "user.setup",
      orgId: null,
      targetType: "user",
      targetId: row.id,
      after: { email, role: "owner", org_id: null, is_active: true },
      actor: { kind: "user", id: row.id, label: email },
    });
    return userPrincipal({ id: row.id, email, role: "owner", orgId: null }, sessionId);
  });
  return me({ ctx: { ...ctx, principal } });
}

/**
 * On first start with no user, creates the owner from ADMIN_EMAIL / ADMIN_PASSWORD. Idempotent,
 * and safe when several instances start at once (only one insert can succeed).
 */
export async function ensureFirstOwner(database: Database, config: Config): Promise<"created" | "exists" | "not-configured"> {
  if (!config.adminEmail || !config.adminPassword) return (await anyUser(database.db)) ? "exists" : "not-configured";
  if (await anyUser(database.db)) return "exists";
  const email = normalizeEmail(config.adminEmail);
  const passwordHash = await hashPassword(config.adminPassword);
  const ctx: Ctx = { db: database.db, config, principal: ANONYMOUS, requestId: "startup", ip: "local" };
  return database.db.transaction(async (tx) => {
    const row = await insertFirstOwner(tx, email, passwordHash);
    if (!row) return "exists" as const;
    await audit.record(tx, ctx, {
      action: "user.setup",
      orgId: null,
      targetType: "user",
      targetId: row.id,
      after: { email, role: "owner", org_id: null, is_active: true },
      actor: { kind: "system", id: null, label: "ADMIN_EMAIL" },
    });
    return "created" as const;
  });
}

const accountKey = (email: string) => `account:${email}`;
const addressKey = (ip: string) => `address:${ip}`;

/**
 * Charges one sign-in attempt to the account and to the address before the password is checked,
 * through the shared request counters (limits service): concurrent attempts each get their own
 * count, so no burst slips past the limit. A window starts with its first attempt and lasts
 * `loginWindowSeconds`. Returns the seconds to wait when either limit is exceeded, else null.
 */
async function chargeAttempt(ctx: Ctx, email: string): Promise<number | null> {
  const wait = await limits.count({
    db: ctx.db,
    buckets: [
      { bucket: accountKey(email), limit: ctx.config.loginMaxPerAccount },
      { bucket: addressKey(ctx.ip), limit: ctx.config.loginMaxPerAddress },
    ],
    windowSeconds: ctx.config.loginWindowSeconds,
  });
  return wait > 0 ? wait : null;
}

/**
 * Signs in with email and password: a new session, its token in an HttpOnly cookie. Failed
 * attempts are limited per account and per address (state in the database, shared by every
 * instance); over the limit the answer is 429 even for the right password.
 */
export async function signIn({ ctx, input }: { ctx: Ctx; input: z.infer<typeof signInInput> }): Promise<Me> {
  const email = normalizeEmail(input.email);
  const wait = await chargeAttempt(ctx, email);
  if (wait !== null) {
    throw new AppError("RATE_LIMITED", `Too many sign-in attempts; try again in ${Math.ceil(wait / 60)} minute(s)`, { retryAfter: wait });
  }
  const [user] = await ctx.db.select().from(users).where(eq(sql`lower(${users.email})`, email));
  const ok = user ? await verifyPassword(input.password, user.passwordHash) : (await verifyNothing(input.password), false);
  const [bound] = user?.orgId ? await ctx.db.select({ deletedAt: organizations.deletedAt }).from(organizations).where(eq(organizations.id, user.orgId)) : [];
  if (!user || !ok || !user.isActive || bound?.deletedAt) throw new AppError("UNAUTHORIZED", "The email or password is incorrect");
  const principal = await ctx.db.transaction(async (tx) => {
    await limits.forgiveSignIn(tx, { account: accountKey(email), address: addressKey(ctx.ip), windowSeconds: ctx.config.loginWindowSeconds });
    const sessionId = await startSession(tx, ctx, user.id);
    await audit.record(tx, ctx, {
      action: "auth.sign_in",
      orgId: user.orgId,
      targetType: "session",
      targetId: sessionId,
      after: { user_id: user.id },
      actor: { kind: "user", id: user.id, label: user.email },
    });
    return userPrincipal(user, sessionId);
  });
  return me({ ctx: { ...ctx, principal } });
}

/** Ends the caller's session (if it is one) and clears the cookie. */
export async function signOut({ ctx }: { ctx: Ctx; input?: unknown }) {
  ctx.resHeaders?.append("set-cookie", sessionCookie("", 0, ctx.secure ?? false));
  const p = ctx.principal;
  if (p.kind !== "user") return { success: true as const };
  await ctx.db.transaction(async (tx) => {
    const ended = await tx
      .update(sessions)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(sessions.id, p.sessionId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    if (ended.length > 0) {
      await audit.record(tx, ctx, { action: "auth.sign_out", orgId: p.orgId, targetType: "session", targetId: p.sessionId, before: { revoked_at: null }, after: { revoked: true } });
    }
  });
  return { success: true as const };
}

/**
 * The principal of a session token: the user is re-read on every request, so a change of role,
 * binding or active flag applies at once. Null when the session is unknown, revoked or expired, the
 * user inactive, or the user's organization deleted. Records the last use at most once a minute.
 */
export async function principalForSession(ctx: Ctx, token: string): Promise<Principal | null> {
  const [row] = await ctx.db
    .select({ session: sessions, user: users, orgDeleted: organizations.deletedAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .leftJoin(organizations, eq(organizations.id, users.orgId))
    .where(and(eq(sessions.tokenHash, sha256(token)), isNull(sessions.revokedAt), gt(sessions.expiresAt, sql`now()`)));
  if (!row || !row.user.isActive || row.orgDeleted) return null;
  if (Date.now() - row.session.lastSeenAt.getTime() > 60_000) {
    await ctx.db
      .update(sessions)
      .set({ lastSeenAt: sql`now()` })
      .where(and(eq(sessions.id, row.session.id), lt(sessions.lastSeenAt, sql`now() - interval '1 minute'`)));
  }
  return userPrincipal(row.user, row.session.id);
}
