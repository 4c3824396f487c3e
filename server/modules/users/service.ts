import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { z } from "zod";
import type { DbOrTx, Tx } from "../../../db/client";
import { organizations, sessions, users } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import type { Role } from "../../auth/principal";
import { hashPassword } from "../../auth/secrets";
import type { Ctx } from "../../context";
import { AppError, notFound, pgCode } from "../../errors";
import * as audit from "../audit/service";
import { findOrg } from "../tenancy/service";
import type { User, userCreateInput, userUpdateInput } from "./schema";

type UserRow = typeof users.$inferSelect;

export function toUser(row: UserRow, orgName: string | null): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role as Role,
    org_id: row.orgId,
    org_name: orgName,
    is_active: row.isActive,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function selectUsers(db: DbOrTx) {
  return db.select({ user: users, orgName: organizations.name }).from(users).leftJoin(organizations, eq(organizations.id, users.orgId));
}

/** The audited fields of a user (never the password hash). */
const audited = (u: User) => ({ email: u.email, role: u.role, org_id: u.org_id, is_active: u.is_active });

/** Normalised email: trimmed and lower-cased (unique case-insensitively). */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

const emailTaken = () => new AppError("CONFLICT", "A user with this email already exists", { errors: [{ path: "email", message: "is already used" }] });

/** Every staff user, by email. */
export async function list({ ctx }: { ctx: Ctx; input?: unknown }) {
  authorize(ctx.principal, "users.manage");
  const rows = await selectUsers(ctx.db).orderBy(asc(users.email));
  return { users: rows.map((r) => toUser(r.user, r.orgName)) };
}

/** Creates a staff user with a role and an optional organization binding. */
export async function create({ ctx, input }: { ctx: Ctx; input: z.infer<typeof userCreateInput> }): Promise<User> {
  authorize(ctx.principal, "users.manage");
  const passwordHash = await hashPassword(input.password);
  try {
    return await ctx.db.transaction(async (tx) => {
      const org = input.org_id ? await findOrg(tx, ctx, input.org_id, "share") : null;
      const [row] = await tx
        .insert(users)
        .values({ email: normalizeEmail(input.email), passwordHash, role: input.role, orgId: org?.id ?? null })
        .returning();
      const user = toUser(row!, org?.name ?? null);
      await audit.record(tx, ctx, { action: "user.create", orgId: user.org_id, targetType: "user", targetId: user.id, after: audited(user) });
      return user;
    });
  } catch (err) {
    if (pgCode(err) === "23505") throw emailTaken();
    throw err;
  }
}

/**
 * At least one active, unbound owner must remain, or nobody could manage users again. Locks every
 * such owner, so two concurrent demotions cannot each believe the other remains.
 */
async function assertOwnerRemains(tx: Tx, changedId: string) {
  const owners = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, "owner"), eq(users.isActive, true), isNull(users.orgId)))
    .for("update");
  if (!owners.some((o) => o.id !== changedId)) {
    throw new AppError("CONFLICT", "At least one active owner bound to no organization must remain");
  }
}

/**
 * Changes a user's role, binding, active flag or password. Every change applies to the user's next
 * request (the principal is re-read each time); deactivation and a new password also end every
 * session at once.
 */
export async function update({ ctx, input }: { ctx: Ctx; input: z.infer<typeof userUpdateInput> }): Promise<User> {
  authorize(ctx.principal, "users.manage");
  const passwordHash = input.password !== undefined ? await hashPassword(input.password) : undefined;
  return ctx.db.transaction(async (tx) => {
    const [current] = await selectUsers(tx).where(eq(users.id, input.id.toLowerCase())).for("update", { of: users });
    if (!current) throw notFound("User");
    const row = current.user;
    const org = input.org_id ? await findOrg(tx, ctx, input.org_id, "share") : null;
    const next = {
      role: input.role ?? row.role,
      orgId: input.org_id === undefined ? row.orgId : (org?.id ?? null),
      isActive: input.is_active ?? row.isActive,
    };
    const wasPlatformOwner = row.role === "owner" && row.isActive && row.orgId === null;
    const staysPlatformOwner = next.role === "owner" && next.isActive && next.orgId === null;
    if (wasPlatformOwner && !staysPlatformOwner) await assertOwnerRemains(tx, row.id);
    const [updated] = await tx
      .update(users)
      .set({ ...next, ...(passwordHash ? { passwordHash } : {}), updatedAt: new Date() })
      .where(eq(users.id, row.id))
      .returning();
    if ((row.isActive && !next.isActive) || passwordHash) {
      await tx.update(sessions).set({ revokedAt: sql`now()` }).where(and(eq(sessions.userId, row.id), isNull(sessions.revokedAt)));
    }
    const before = toUser(row, current.orgName);
    const after = toUser(updated!, input.org_id === undefined ? current.orgName : (org?.name ?? null));
    const diff = audit.changedFields(audited(before), audited(after));
    if (passwordHash) {
      // That it changed, never what it is.
      diff.before.password = "[redacted]";
      diff.after.password = "[redacted, changed]";
    }
    if (Object.keys(diff.after).length > 0) {
      await audit.record(tx, ctx, { action: "user.update", orgId: after.org_id ?? before.org_id, targetType: "user", targetId: row.id, ...diff });
    }
    return after;
  });
}

/** Whether any user exists (first start creates the owner only while none does). */
export async function anyUser(db: DbOrTx): Promise<boolean> {
  const [row] = await db.select({ one: sql`1` }).from(users).limit(1);
  return row !== undefined;
}
