import { authedProcedure, router } from "../../trpc/init";
import { alertIdInput, alertListInput, budgetCreateInput, budgetIdInput, budgetListQuery, budgetUpdateInput } from "./schema";
import * as budgets from "./service";

export const budgetsRouter = router({
  list: authedProcedure.input(budgetListQuery).query(({ ctx, input }) => budgets.list({ ctx, input })),
  create: authedProcedure.input(budgetCreateInput).mutation(({ ctx, input }) => budgets.create({ ctx, input })),
  update: authedProcedure.input(budgetUpdateInput).mutation(({ ctx, input }) => budgets.update({ ctx, input })),
  delete: authedProcedure.input(budgetIdInput).mutation(({ ctx, input }) => budgets.delete({ ctx, input })),
  liftSuspension: authedProcedure.input(budgetIdInput).mutation(({ ctx, input }) => budgets.liftSuspension({ ctx, input })),
});

export const alertsRouter = router({
  list: authedProcedure.input(alertListInput).query(({ ctx, input }) => budgets.listAlerts({ ctx, input })),
  read: authedProcedure.input(alertIdInput).mutation(({ ctx, input }) => budgets.markAlertRead({ ctx, input })),
});
