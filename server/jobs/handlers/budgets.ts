import * as budgets from "../../modules/budgets/service";
import { budgetsEvaluate, budgetsSweep, jobHandler } from "../kinds";

export const budgetsEvaluateHandler = jobHandler(budgetsEvaluate, async ({ ctx, payload }) => {
  await budgets.evaluate(ctx, { orgId: payload.org_id, month: payload.month });
});

export const budgetsSweepHandler = jobHandler(budgetsSweep, async ({ ctx }) => {
  await budgets.sweep(ctx);
});
