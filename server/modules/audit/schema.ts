import { z } from "zod";
import { cursorInput, instantOutput, limitInput, orgRef } from "../../shared/fields";

export const auditListInput = z.object({
  /** Organization id or slug; an id also finds entries of a deleted organization. */
  org: orgRef.optional(),
  /** Actor label (email, `key:<prefix>`, `key:ADMIN_API_KEY`, `system`) or actor id. */
  actor: z.string().min(1, "must not be empty").max(254, "is too long").optional(),
  /** Exact action, e.g. `agent.assign`; or a prefix ending in a dot, e.g. `organization.`. */
  action: z.string().min(1, "must not be empty").max(64, "is too long").regex(/^[a-z_.]+$/, "must be an action like agent.assign").optional(),
  limit: limitInput,
  cursor: cursorInput,
});

export const auditEventOutput = z.object({
  id: z.string(),
  at: instantOutput,
  actor_kind: z.enum(["user", "api_key", "system"]),
  actor_id: z.string().nullable(),
  actor_label: z.string(),
  action: z.string(),
  org_id: z.string().nullable(),
  target_type: z.string(),
  target_id: z.string().nullable(),
  /** The changed fields before and after the change (secrets are never recorded). */
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
  request_id: z.string().nullable(),
});

export const auditListOutput = z.object({ events: z.array(auditEventOutput), next_cursor: z.string().nullable() });

export type AuditEvent = z.infer<typeof auditEventOutput>;
