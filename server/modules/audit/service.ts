import { and, desc, eq, like, lt, or, type SQL } from "drizzle-orm";
import type { z } from "zod";
import type { DbOrTx } from "../../../db/client";
import { auditLog } from "../../../db/schema";
import { authorize, tenantOrgId } from "../../auth/policy";
import { actorLabel } from "../../auth/principal";
import type { Ctx } from "../../context";
import { decodeCursor, encodeCursor } from "../../shared/cursor";
import { prefixPattern } from "../../shared/like";
import { isUuid } from "../../shared/uuid";
import { findOrgIdForHistory } from "../tenancy/service";
import * as events from "../events/service";
import type { AuditEvent, auditListInput } from "./schema";

export interface AuditEntry {
  action: string;
  orgId: string | null;
  targetType: string;
  targetId: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  /** Who acted, when it is not the request's principal (sign-in, first-owner setup). */
  actor?: { kind: "user" | "api_key" | "system"; id: string | null; label: string };
}

/** Keeps only the fields whose value changed, as `{ before, after }`. */
export function changedFields(before: Record<string, unknown>, after: Record<string, unknown>) {
  const b: Record<string, unknown> = {};
  const a: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      b[key] = before[key] ?? null;
      a[key] = after[key] ?? null;
    }
  }
  return { before: b, after: a };
}

/**
 * Records an update as one entry holding only the fields that changed (`updated_at` aside), and
 * nothing at all when nothing changed: a no-op update leaves no trace.
 */
export async function recordChange(
  tx: DbOrTx,
  ctx: Ctx,
  entry: Omit<AuditEntry, "before" | "after"> & { before: Record<string, unknown>; after: Record<string, unknown> },
): Promise<void> {
  const { updated_at: _b, ...before } = entry.before;
  const { updated_at: _a, ...after } = entry.after;
  const diff = changedFields(before, after);
  if (Object.keys(diff.after).length > 0) await record(tx, ctx, { ...entry, ...diff }, entry.after);
}

/**
 * Writes one audit entry inside the caller's transaction, so it exists exactly when the change
 * does; and, when the change is one that webhooks report, its event in the same transaction
 * (events/audit-events.ts). `current` is the changed object as it is now; a change that is a webhook event must pass it.
 */
export async function record(tx: DbOrTx, ctx: Ctx, entry: AuditEntry, current?: Record<string, unknown>): Promise<void> {
  const p = ctx.principal;
  const actor = entry.actor ?? {
    kind: p.kind === "anonymous" ? ("system" as const) : p.kind,
    id: p.kind === "user" ? p.userId : p.kind === "api_key" ? p.keyId : null,
    label: p.kind === "anonymous" ? "system" : actorLabel(p),
  };
  await tx.insert(auditLog).values({
    actorKind: actor.kind,
    actorId: actor.id,
    actorLabel: actor.label,
    action: entry.action,
    orgId: entry.orgId,
    targetType: entry.targetType,
    targetId: entry.targetId,
    before: entry.before ?? null,
    after: entry.after ?? null,
    requestId: ctx.requestId,
  });
  await events.emitAudited(tx, entry, current);
}

/** Cost-bearing field names a bound principal never receives, wherever they appear (unpriced counts and FX are about token cost too). */
const COST_FIELD = /(cost|margin|usd|priced|fx)/i;
const ORG_FIELD = /(^|_)org(_id|Id)?$|OrgId$/;
export const ANOTHER_ORGANIZATION = "[another organization]";

/**
 * An entry's fields as a principal bound to `tenant` may see them: no cost or margin field, and no
 * reference to another organization (an agent that moved in from elsewhere came from
 * `[another organization]`).
 */
function forTenant(value: unknown, tenant: string): unknown {
  if (Array.isArray(value)) return value.map((v) => forTenant(v, tenant));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !COST_FIELD.test(k))
        .map(([k, v]) => [k, ORG_FIELD.test(k) && typeof v === "string" && v !== tenant ? ANOTHER_ORGANIZATION : forTenant(v, tenant)]),
    );
  }
  return value;
}

/**
 * Lists audit entries, newest first, with filters and keyset pagination. A bound principal sees
 * only its organization's entries (never platform-wide ones such as users or keys), and never a
 * cost or margin field inside them.
 */
export async function list({ ctx, input }: { ctx: Ctx; input: z.infer<typeof auditListInput> }) {
  authorize(ctx.principal, "audit.read");
  const tenant = tenantOrgId(ctx.principal);
  const conditions: (SQL | undefined)[] = [];
  if (tenant) conditions.push(eq(auditLog.orgId, tenant));
  if (input.org) conditions.push(eq(auditLog.orgId, await findOrgIdForHistory(ctx.db, ctx, input.org)));
  if (input.actor) {
    // Emails are stored lower-cased, so an email filter matches whatever case it is typed in.
    const label = input.actor.includes("@") ? input.actor.toLowerCase() : input.actor;
    conditions.push(isUuid(input.actor) ? or(eq(auditLog.actorId, input.actor.toLowerCase()), eq(auditLog.actorLabel, label)) : eq(auditLog.actorLabel, label));
  }
  if (input.action) conditions.push(input.action.endsWith(".") ? like(auditLog.action, prefixPattern(input.action)) : eq(auditLog.action, input.action));
  if (input.cursor) {
    const [id] = decodeCursor(input.cursor, ["number"]) as [number];
    conditions.push(lt(auditLog.id, Number(id)));
  }
  const rows = await ctx.db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const shown = (fields: unknown) => (tenant ? forTenant(fields, tenant) : fields) as AuditEvent["before"];
  const events: AuditEvent[] = page.map((r) => ({
    id: String(r.id),
    at: r.at.toISOString(),
    actor_kind: r.actorKind as AuditEvent["actor_kind"],
    actor_id: r.actorId,
    actor_label: r.actorLabel,
    action: r.action,
    org_id: r.orgId,
    target_type: r.targetType,
    target_id: r.targetId,
    before: shown(r.before),
    after: shown(r.after),
    request_id: r.requestId,
  }));
  const last = page.at(-1);
  return { events, next_cursor: rows.length > input.limit && last ? encodeCursor([last.id]) : null };
}
