import { z } from "zod";
import { cursorInput, DECIMAL_STRING_MAX, forbiddenField, instantOutput, limitInput, orgRef, uuidString } from "../../shared/fields";
import { parseDecimalInput } from "../../shared/money";
import { MONTH_PATTERN } from "../../shared/time";

/** Budget kinds (docs/guardrails.md, "Budgets"). */
export const BUDGET_KINDS = ["cost_usd", "margin_floor_pct"] as const;
export type BudgetKind = (typeof BUDGET_KINDS)[number];
export const BUDGET_ACTIONS = ["notify", "suspend"] as const;
export const DEFAULT_THRESHOLDS = [50, 80, 100];

const kindInput = z.enum(BUDGET_KINDS, { error: `must be one of ${BUDGET_KINDS.join(", ")}` });
const actionInput = z.enum(BUDGET_ACTIONS, { error: `must be one of ${BUDGET_ACTIONS.join(", ")}` });

/** USD per month (cost_usd) or a percentage (margin_floor_pct): ≥ 0, at most 2 decimals, exact. */
const amountInput = z
  .union([z.number(), z.string().max(DECIMAL_STRING_MAX, `must be at most ${DECIMAL_STRING_MAX} characters`)], { error: "must be a decimal number like 250.00" })
  .transform((value, ctx) => {
    const parsed = parseDecimalInput(value, 2, 12);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }
    return parsed.value;
  })
  .meta({ description: "USD per month for cost_usd; the margin floor in percent (0 to below 100) for margin_floor_pct", examples: ["250.00", "30"] });

const thresholdsInput = z
  .array(z.number({ error: "must be a whole percentage" }).int("must be a whole percentage").min(1, "must be at least 1").max(100, "must be at most 100"), {
    error: "must be a list of percentages",
  })
  .min(1, "must hold at least one threshold")
  .max(10, "must hold at most 10 thresholds")
  .refine((t) => new Set(t).size === t.length, "must not repeat a threshold")
  .transform((t) => [...t].sort((a, b) => a - b))
  .meta({ description: "Percentages of the month's allowance at which an alert fires (default [50, 80, 100])" });

/** A margin floor is a percentage below 100 (a floor of 100 % leaves nothing to spend). */
function kindAmountCheck(value: { kind?: BudgetKind; amount?: string }, ctx: z.RefinementCtx) {
  if (value.kind === "margin_floor_pct" && value.amount !== undefined && Number(value.amount) >= 100) {
    ctx.addIssue({ code: "custom", path: ["amount"], message: "a margin floor must be below 100 (percent)" });
  }
}

export const budgetCreateInput = z
  .strictObject({
    org_id: orgRef.optional().meta({ description: "The organization (id or slug) of an organization budget" }),
    agent_id: uuidString.optional().meta({ description: "The agent of an agent budget" }),
    kind: kindInput,
    amount: amountInput,
    thresholds_pct: thresholdsInput.optional(),
    action_at_100: actionInput.optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.org_id === undefined) === (value.agent_id === undefined)) {
      ctx.addIssue({ code: "custom", path: [value.org_id === undefined ? "org_id" : "agent_id"], message: "give exactly one of org_id and agent_id" });
    }
    kindAmountCheck(value, ctx);
  });

const budgetUpdateShape = {
  kind: kindInput.optional(),
  amount: amountInput.optional(),
  thresholds_pct: thresholdsInput.optional(),
  action_at_100: actionInput.optional(),
  org_id: forbiddenField("cannot be changed; delete the budget and create another"),
  agent_id: forbiddenField("cannot be changed; delete the budget and create another"),
};
export const budgetUpdateFields = z.strictObject({ ...budgetUpdateShape, id: forbiddenField("cannot be changed") }).superRefine(kindAmountCheck);
export const budgetUpdateInput = z.strictObject({ ...budgetUpdateShape, id: uuidString }).superRefine(kindAmountCheck);

export const budgetIdInput = z.object({ id: uuidString });

export const budgetListQuery = z.strictObject({
  org: orgRef.optional().meta({ description: "Only budgets on this organization or on its current agents" }),
  agent: uuidString.optional().meta({ description: "Only the budget on this agent" }),
});

export const budgetOutput = z.object({
  id: z.string(),
  /** The organization of an organization budget; for an agent budget, the agent's current organization. */
  org_id: z.string(),
  agent_id: z.string().nullable(),
  kind: z.enum(BUDGET_KINDS),
  amount: z.string().meta({ description: "USD (cost_usd) or percent (margin_floor_pct), decimal string" }),
  thresholds_pct: z.array(z.number()),
  action_at_100: z.enum(BUDGET_ACTIONS),
  month: z.string().meta({ description: "The current UTC month, YYYY-MM, the figures below are for" }),
  spend_usd: z.string().meta({ description: "Token cost of the month so far, USD, 4 decimals" }),
  allowance_usd: z.string().nullable().meta({ description: "What the month may cost under the budget, USD, 4 decimals; null when an FX rate is missing" }),
  used_pct: z.string().nullable().meta({ description: "spend ÷ allowance × 100, one decimal; null when the allowance is 0 or unknown" }),
  suspended: z.boolean().meta({ description: "A budget suspension is in force this month" }),
  created_at: instantOutput,
  updated_at: instantOutput,
});
export type Budget = z.infer<typeof budgetOutput>;

export const budgetListOutput = z.object({ budgets: z.array(budgetOutput) });
export const budgetDeleteOutput = z.object({ success: z.literal(true), id: z.string() });

// Alerts

export const alertListQuery = z.object({
  org: orgRef.optional().meta({ description: "Only alerts of this organization (id or slug)" }),
  unread: z
    .enum(["true", "false"], { error: "must be true or false" })
    .transform((v) => v === "true")
    .optional()
    .meta({ description: "true: only unread alerts; false: only read ones" }),
  limit: limitInput,
  cursor: cursorInput,
});
/** tRPC takes a boolean for `unread`. */
export const alertListInput = alertListQuery.extend({ unread: z.boolean({ error: "must be true or false" }).optional() });

export const alertIdInput = z.object({ id: uuidString });

export const alertOutput = z.object({
  id: z.string(),
  budget_id: z.string(),
  organization_id: z.string(),
  organization_name: z.string(),
  agent_id: z.string().nullable(),
  agent_name: z.string().nullable(),
  kind: z.enum(BUDGET_KINDS),
  month: z.string().regex(MONTH_PATTERN),
  threshold_pct: z.number(),
  spend_usd: z.string(),
  allowance_usd: z.string(),
  created_at: instantOutput,
  read_at: instantOutput.nullable(),
});
export type Alert = z.infer<typeof alertOutput>;

export const alertListOutput = z.object({
  alerts: z.array(alertOutput),
  /** Unread alerts the caller may see, across every page (with the `org` filter applied). */
  unread_count: z.number(),
  next_cursor: z.string().nullable(),
});
