import { actorLabel } from "../../auth/principal";
import type { Ctx } from "../../context";
import type { DbOrTx } from "../../../db/client";
import { auditLog } from "../../../db/schema";

export interface AuditEntry {
  action: string;
  orgId: string | null;
  targetType: string;
  targetId: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
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

/** Writes one audit entry inside the caller's transaction, so it exists exactly when the change does. */
export async function record(tx: DbOrTx, ctx: Ctx, entry: AuditEntry): Promise<void> {
  const p = ctx.principal;
  await tx.insert(auditLog).values({
    actorKind: p.kind === "anonymous" ? "system" : p.kind,
    actorId: p.kind === "user" ? p.userId : p.kind === "api_key" ? p.keyId : null,
    actorLabel: actorLabel(p),
    action: entry.action,
    orgId: entry.orgId,
    targetType: entry.targetType,
    targetId: entry.targetId,
    before: entry.before ?? null,
    after: entry.after ?? null,
    requestId: ctx.requestId,
  });
}
