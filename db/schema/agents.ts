import { sql } from "drizzle-orm";
import { check, index, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, instant, money, timestamps } from "./columns";
import { organizations } from "./orgs";

export const AGENT_STATUSES = ["active", "archived"] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const agents = pgTable(
  "agents",
  {
    id: id(),
    name: text("name").notNull(),
    email: text("email"),
    description: text("description"),
    /**
     * The id the agent's runtime knows it by (an OpenTelemetry `gen_ai.agent.id`, a LiteLLM key
     * alias); unique among all agents, so every ingestion path resolves it to one agent.
     */
    externalId: text("external_id"),
    /** The agent's own state; the effective status also depends on its organization. */
    status: text("status").$type<AgentStatus>().notNull().default("active"),
    /** Custom monthly rate in the current organization's currency; null inherits the org default. */
    billingRate: money("billing_rate"),
    /** Current organization: always equal to the open interval of agent_assignments. */
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    ...timestamps,
  },
  (t) => [
    // Names and emails are unique among the non-archived agents of one organization, case-insensitively
    // (docs/decisions.md): a conflict never tells an organization what exists in another.
    uniqueIndex("agents_org_name_live_key").on(t.orgId, sql`lower(${t.name})`).where(sql`${t.status} = 'active'`),
    uniqueIndex("agents_org_email_live_key").on(t.orgId, sql`lower(${t.email})`).where(sql`${t.email} is not null and ${t.status} = 'active'`),
    index("agents_org_idx").on(t.orgId),
    uniqueIndex("agents_external_id_key").on(t.externalId),
    check("agents_external_id_check", sql`char_length(${t.externalId}) between 1 and 128`),
    check("agents_status_check", sql`${t.status} in ('active', 'archived')`),
    check("agents_rate_check", sql`${t.billingRate} is null or ${t.billingRate} >= 0`),
  ],
);

/**
 * Every assignment of an agent to an organization, as a half-open interval [starts_at, ends_at).
 * Exactly one open interval per agent; no overlaps (exclusion constraint in a migration).
 */
export const agentAssignments = pgTable(
  "agent_assignments",
  {
    id: id(),
    agentId: uuid("agent_id").notNull().references(() => agents.id),
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    startsAt: instant("starts_at").notNull(),
    endsAt: instant("ends_at"),
  },
  (t) => [
    uniqueIndex("agent_assignments_open_key").on(t.agentId).where(sql`${t.endsAt} is null`),
    index("agent_assignments_org_idx").on(t.orgId, t.startsAt),
    check("agent_assignments_order_check", sql`${t.endsAt} is null or ${t.endsAt} >= ${t.startsAt}`),
  ],
);

/** History of an agent's custom rate (null = inherits the org default). Cleared by every move. */
export const agentRatePeriods = pgTable(
  "agent_rate_periods",
  {
    id: id(),
    agentId: uuid("agent_id").notNull().references(() => agents.id),
    rate: money("rate"),
    startsAt: instant("starts_at").notNull(),
    endsAt: instant("ends_at"),
  },
  (t) => [
    uniqueIndex("agent_rate_periods_open_key").on(t.agentId).where(sql`${t.endsAt} is null`),
    check("agent_rate_periods_order_check", sql`${t.endsAt} is null or ${t.endsAt} >= ${t.startsAt}`),
  ],
);

/** History of an agent's own status (active/archived): archived time is never billed. */
export const agentStatusPeriods = pgTable(
  "agent_status_periods",
  {
    id: id(),
    agentId: uuid("agent_id").notNull().references(() => agents.id),
    status: text("status").$type<AgentStatus>().notNull(),
    startsAt: instant("starts_at").notNull(),
    endsAt: instant("ends_at"),
  },
  (t) => [
    uniqueIndex("agent_status_periods_open_key").on(t.agentId).where(sql`${t.endsAt} is null`),
    check("agent_status_periods_order_check", sql`${t.endsAt} is null or ${t.endsAt} >= ${t.startsAt}`),
  ],
);
