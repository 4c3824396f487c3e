import type { WebhookEventType } from "../webhooks/schema";

/**
 * Which audited changes are webhook events, and what each event carries (docs/guardrails.md,
 * "Events"). Every change already writes its audit entry inside its transaction; the audit
 * service hands each entry here, so an event is written in that same transaction, exactly when the
 * change commits, and no service has to remember to emit it.
 *
 * `subject` names the object an event carries in full, loaded as it is after the change (in the
 * same transaction): `{ organization }` or `{ agent }`. Updates also carry `changes`, the changed
 * fields before and after, exactly as the audit entry records them.
 */
export interface AuditedChange {
  action: string;
  targetId: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

type Subject = "organization" | "agent";

interface Mapping {
  subject: Subject;
  /** The event type for this entry (null: this entry is not an event). */
  type: (entry: AuditedChange) => WebhookEventType | null;
  /** Data besides the subject. */
  extra?: (entry: AuditedChange) => Record<string, unknown>;
  /** Use the entry's `before` as the subject (it no longer exists as it was, e.g. deleted). */
  subjectFromBefore?: boolean;
}

const changes = (entry: AuditedChange) => ({ changes: { before: entry.before ?? {}, after: entry.after ?? {} } });
const move = (entry: AuditedChange) => ({
  previous_organization_id: (entry.before?.org_id as string | undefined) ?? null,
  organization_id: (entry.after?.org_id as string | undefined) ?? null,
});

export const AUDIT_EVENTS: Record<string, Mapping> = {
  "organization.create": { subject: "organization", type: () => "organization.created" },
  "organization.update": { subject: "organization", type: () => "organization.updated", extra: changes },
  "organization.rate_change": { subject: "organization", type: () => "organization.updated", extra: changes },
  "organization.delete": { subject: "organization", type: () => "organization.deleted", subjectFromBefore: true },
  "organization.toggle": {
    subject: "organization",
    type: (e) => (e.after?.is_active === true ? "organization.activated" : e.after?.is_active === false ? "organization.deactivated" : null),
  },
  "agent.create": { subject: "agent", type: () => "agent.created" },
  "agent.update": { subject: "agent", type: () => "agent.updated", extra: changes },
  "agent.rate_change": { subject: "agent", type: () => "agent.rate_changed", extra: changes },
  "agent.assign": { subject: "agent", type: () => "agent.assigned", extra: move },
  "agent.unassign": { subject: "agent", type: () => "agent.unassigned", extra: move },
};

/** The event an audited change is, without its subject yet, or null when it is none. */
export function eventOf(entry: AuditedChange): { type: WebhookEventType; subject: Subject; subjectId: string; fromBefore: boolean; extra: Record<string, unknown> } | null {
  const mapping = AUDIT_EVENTS[entry.action];
  if (!mapping || !entry.targetId) return null;
  const type = mapping.type(entry);
  if (!type) return null;
  return { type, subject: mapping.subject, subjectId: entry.targetId, fromBefore: mapping.subjectFromBefore ?? false, extra: mapping.extra?.(entry) ?? {} };
}
