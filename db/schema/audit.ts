import { bigserial, index, jsonb, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { instant } from "./columns";

/**
 * Every change, who made it and what it changed. No foreign keys on purpose: an entry outlives the
 * organization, agent, user or key it is about.
 */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    at: instant("at").notNull().defaultNow(),
    /** `user`, `api_key` or `system`. */
    actorKind: text("actor_kind").notNull(),
    /** User id or API key id; null for ADMIN_API_KEY and the system. */
    actorId: text("actor_id"),
    /** Email or key prefix, kept as it was at the time. */
    actorLabel: text("actor_label").notNull(),
    /** Dotted verb, e.g. `organization.create`, `agent.assign`. */
    action: text("action").notNull(),
    orgId: uuid("org_id"),
    targetType: text("target_type").notNull(),
    targetId: text("target_id"),
    /** Changed fields only, before and after. */
    before: jsonb("before"),
    after: jsonb("after"),
    requestId: text("request_id"),
  },
  (t) => [
    index("audit_log_org_idx").on(t.orgId, t.id),
    index("audit_log_actor_idx").on(t.actorLabel, t.id),
    index("audit_log_action_idx").on(t.action, t.id),
  ],
);
