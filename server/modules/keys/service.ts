import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { z } from "zod";
import type { DbOrTx } from "../../../db/client";
import { apiKeys, organizations, users } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import type { KeyPermission, Principal } from "../../auth/principal";
import { apiKeyPrefix, newApiKey, sameHash, sha256 } from "../../auth/secrets";
import type { Ctx } from "../../context";
import { notFound, pgCode } from "../../errors";
import * as audit from "../audit/service";
import { findOrg } from "../tenancy/service";
import type { ApiKey, keyCreateInput, keyIdInput } from "./schema";

const keyColumns = { key: apiKeys, orgName: organizations.name, creator: users.email };
type KeyJoinRow = { key: typeof apiKeys.$inferSelect; orgName: string | null; creator: string | null };

function toKey(r: KeyJoinRow): ApiKey {
  const k = r.key;
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    permission: k.permission as KeyPermission,
    org_id: k.orgId,
    org_name: r.orgName,
    created_by: r.creator,
    created_at: k.createdAt.toISOString(),
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
    revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}

function selectKeys(db: DbOrTx) {
  return db.select(keyColumns).from(apiKeys).leftJoin(organizations, eq(organizations.id, apiKeys.orgId)).leftJoin(users, eq(users.id, apiKeys.createdBy));
}

/** Every API key, newest first: prefix, scope, permission, last use; never a secret or its hash. */
export async function list({ ctx }: { ctx: Ctx; input?: unknown }) {
  authorize(ctx.principal, "keys.manage");
  const rows = await selectKeys(ctx.db).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
  return { keys: rows.map(toKey) };
}

/** Creates an API key and returns it once; only the SHA-256 of the key is stored. */
export async function create({ ctx, input }: { ctx: Ctx; input: z.infer<typeof keyCreateInput> }) {
  authorize(ctx.principal, "keys.manage");
  return ctx.db.transaction(async (tx) => {
    const org = input.org_id ? await findOrg(tx, ctx, input.org_id, "share") : null;
    const createdBy = ctx.principal.kind === "user" ? ctx.principal.userId : null;
    // A prefix collision (40 random bits) is astronomically rare; one retry covers it.
    for (let attempt = 0; ; attempt++) {
      const { key, prefix } = newApiKey();
      try {
        const [row] = await tx
          .insert(apiKeys)
          .values({ prefix, secretHash: sha256(key), name: input.name, permission: input.permission, orgId: org?.id ?? null, createdBy })
          .returning({ id: apiKeys.id });
        const [created] = await selectKeys(tx).where(eq(apiKeys.id, row!.id));
        const listed = toKey(created!);
        await audit.record(tx, ctx, {
          action: "api_key.create",
          orgId: listed.org_id,
          targetType: "api_key",
          targetId: listed.id,
          after: { name: listed.name, prefix: listed.prefix, permission: listed.permission, org_id: listed.org_id },
        });
        return { ...listed, key };
      } catch (err) {
        if (pgCode(err) !== "23505" || attempt > 0) throw err;
      }
    }
  });
}

/** Revokes a key: every request with it is refused from now on. Revoking a revoked key changes nothing. */
export async function revoke({ ctx, input }: { ctx: Ctx; input: z.infer<typeof keyIdInput> }) {
  authorize(ctx.principal, "keys.manage");
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.id, input.id.toLowerCase())).for("update");
    if (!row) throw notFound("API key");
    if (!row.revokedAt) {
      const now = new Date();
      await tx.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, row.id));
      await audit.record(tx, ctx, {
        action: "api_key.revoke",
        orgId: row.orgId,
        targetType: "api_key",
        targetId: row.id,
        before: { revoked_at: null },
        after: { revoked_at: now.toISOString() },
      });
    }
    const [updated] = await selectKeys(tx).where(eq(apiKeys.id, row.id));
    return toKey(updated!);
  });
}

/**
 * The principal of a presented API key, or null when it is unknown, revoked, malformed or scoped
 * to a deleted organization. Records the last use at most once a minute (one conditional update).
 */
export async function principalForKey(ctx: Ctx, key: string): Promise<Principal | null> {
  const prefix = apiKeyPrefix(key);
  if (!prefix) return null;
  const [row] = await ctx.db
    .select({ key: apiKeys, orgDeleted: organizations.deletedAt })
    .from(apiKeys)
    .leftJoin(organizations, eq(organizations.id, apiKeys.orgId))
    .where(eq(apiKeys.prefix, prefix));
  if (!row || !sameHash(row.key.secretHash, sha256(key)) || row.key.revokedAt || row.orgDeleted) return null;
  const k = row.key;
  if (!k.lastUsedAt || Date.now() - k.lastUsedAt.getTime() > 60_000) {
    await ctx.db
      .update(apiKeys)
      .set({ lastUsedAt: sql`now()` })
      .where(and(eq(apiKeys.id, k.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, sql`now() - interval '1 minute'`))));
  }
  return { kind: "api_key", keyId: k.id, prefix: k.prefix, permission: k.permission as KeyPermission, orgId: k.orgId };
}
