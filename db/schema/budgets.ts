import { sql } from "drizzle-orm";
import { check, date, index, integer, jsonb, numeric, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { agents } from "./agents";
import { id, instant, timestamps } from "./columns";
import { organizations } from "./orgs";
import { usd } from "./usage";

/**
 * Monthly budgets on an organization or on one agent (docs/guardrails.md, "Budgets"). Spend is
 * never stored: it is computed from the month's usage rollups whenever a budget is evaluated, so
 * nothing has to be reset when a month starts. Deleting a budget keeps the row (`deleted_at`) so
 * that its alerts and suspensions stay readable.
 */
export const budgets = pgTable(
  "budgets",
  {
    id: id(),
    /** The organization the budget is on; for an agent budget, the agent's organization when it was created (informational). */
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id),
    /** Set for a budget on one agent; null for a budget on the whole organization. */
    agentId: uuid("agent_id").references(() => agents.id),
    /** `cost_usd`: `amount` is USD of token cost per month; `margin_floor_pct`: `amount` is the margin floor in percent. */
    kind: text("kind").notNull(),
    /** USD (cost_usd) or percent (margin_floor_pct), exact. */
    amount: numeric("amount", { precision: 20, scale: 6 }).notNull(),
    /** Percentages of the allowance at which an alert fires, ascending, each 1–100. */
    thresholdsPct: jsonb("thresholds_pct").$type<number[]>().notNull(),
    /** `notify` or `suspend`: what happens at 100 %. */
    actionAt100: text("action_at_100").notNull(),
    deletedAt: instant("deleted_at"),
    ...timestamps,
  },
  (t) => [
    check("budgets_kind_check", sql`${t.kind} in ('cost_usd', 'margin_floor_pct')`),
    check("budgets_action_check", sql`${t.actionAt100} in ('notify', 'suspend')`),
    check("budgets_amount_check", sql`${t.amount} >= 0 and (${t.kind} <> 'margin_floor_pct' or ${t.amount} < 100)`),
    // One live budget per organization (agent_id null) and one per agent.
    uniqueIndex("budgets_org_live_idx").on(t.orgId).where(sql`${t.agentId} is null and ${t.deletedAt} is null`),
    uniqueIndex("budgets_agent_live_idx").on(t.agentId).where(sql`${t.agentId} is not null and ${t.deletedAt} is null`),
  ],
);

/**
 * A threshold crossing: at most one per budget, month and threshold, whatever runs the evaluation
 * and however often (the primary key is the invariant).
 */
export const budgetAlerts = pgTable(
  "budget_alerts",
  {
    id: id(),
    budgetId: uuid("budget_id")
      .notNull()
      .references(() => budgets.id),
    /** Copied from the budget, so that alerts are filtered by organization without a join. */
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id),
    /** First UTC day of the month. */
    month: date("month", { mode: "string" }).notNull(),
    /** Percent of the allowance. */
    thresholdPct: integer("threshold_pct").notNull(),
    /** USD of token cost in the month when the threshold was found crossed, exact. */
    spendUsd: usd("spend_usd").notNull(),
    /** USD the month may cost under the budget at that moment, exact. */
    allowanceUsd: usd("allowance_usd").notNull(),
    createdAt: instant("created_at").notNull().defaultNow(),
    /** When staff marked it read; null = unread. */
    readAt: instant("read_at"),
  },
  (t) => [
    uniqueIndex("budget_alerts_once_idx").on(t.budgetId, t.month, t.thresholdPct),
    index("budget_alerts_org_idx").on(t.orgId, t.createdAt),
    index("budget_alerts_unread_idx").on(t.createdAt).where(sql`${t.readAt} is null`),
  ],
);

/**
 * A budget suspension: the budget's agents have effective status `suspended` (reason `budget`)
 * while a row of the current month is not lifted. It lifts by itself when the month ends (the row's
 * month is no longer the current one); `lifted_at` records how it ended.
 */
export const budgetSuspensions = pgTable(
  "budget_suspensions",
  {
    id: id(),
    budgetId: uuid("budget_id")
      .notNull()
      .references(() => budgets.id),
    /** First UTC day of the month the suspension applies to. */
    month: date("month", { mode: "string" }).notNull(),
    startedAt: instant("started_at").notNull().defaultNow(),
    liftedAt: instant("lifted_at"),
    /** `month_end`, `budget_changed` (raised, or no longer suspending), `budget_removed` or `staff`. */
    liftReason: text("lift_reason"),
  },
  (t) => [
    // At most one suspension in force per budget.
    uniqueIndex("budget_suspensions_open_idx").on(t.budgetId).where(sql`${t.liftedAt} is null`),
    index("budget_suspensions_month_idx").on(t.budgetId, t.month),
    check("budget_suspensions_lift_check", sql`(${t.liftedAt} is null) = (${t.liftReason} is null)`),
    check("budget_suspensions_reason_check", sql`${t.liftReason} is null or ${t.liftReason} in ('month_end', 'budget_changed', 'budget_removed', 'staff')`),
  ],
);

export type BudgetRow = typeof budgets.$inferSelect;
