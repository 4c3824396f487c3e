import { alertPath, budgetPath } from "../../rest/params";
import { defineRoute } from "../../rest/route";
import { alertListOutput, alertListQuery, alertOutput, budgetCreateInput, budgetDeleteOutput, budgetListOutput, budgetListQuery, budgetOutput, budgetUpdateFields } from "./schema";
import * as budgets from "./service";

export const budgetRoutes = [
  defineRoute({
    method: "get",
    path: "/api/budgets",
    tag: "Budgets",
    summary: "List budgets with this month's spend, allowance and share used",
    query: budgetListQuery,
    response: budgetListOutput,
    handler: ({ ctx, query }) => budgets.list({ ctx, input: query }),
  }),
  defineRoute({
    method: "post",
    path: "/api/budgets",
    tag: "Budgets",
    summary: "Create a monthly budget on an organization or an agent",
    body: budgetCreateInput,
    response: budgetOutput,
    status: 201,
    errors: [404, 409],
    handler: ({ ctx, body }) => budgets.create({ ctx, input: body }),
  }),
  defineRoute({
    method: "patch",
    path: "/api/budgets/:id",
    tag: "Budgets",
    summary: "Change a budget's kind, amount, thresholds or action at 100 %",
    params: budgetPath,
    body: budgetUpdateFields,
    response: budgetOutput,
    handler: ({ ctx, params, body }) => budgets.update({ ctx, input: { ...body, ...params } }),
  }),
  defineRoute({
    method: "delete",
    path: "/api/budgets/:id",
    tag: "Budgets",
    summary: "Remove a budget (its alerts stay); a suspension it holds is lifted",
    params: budgetPath,
    response: budgetDeleteOutput,
    handler: ({ ctx, params }) => budgets.delete({ ctx, input: params }),
  }),
  defineRoute({
    method: "post",
    path: "/api/budgets/:id/lift-suspension",
    tag: "Budgets",
    summary: "Lift a budget suspension for the rest of the month",
    params: budgetPath,
    response: budgetOutput,
    errors: [409],
    handler: ({ ctx, params }) => budgets.liftSuspension({ ctx, input: params }),
  }),
  defineRoute({
    method: "get",
    path: "/api/alerts",
    tag: "Budgets",
    summary: "List budget alerts, newest first, with the unread count",
    query: alertListQuery,
    response: alertListOutput,
    handler: ({ ctx, query }) => budgets.listAlerts({ ctx, input: query }),
  }),
  defineRoute({
    method: "post",
    path: "/api/alerts/:id/read",
    tag: "Budgets",
    summary: "Mark an alert read",
    params: alertPath,
    response: alertOutput,
    handler: ({ ctx, params }) => budgets.markAlertRead({ ctx, input: params }),
  }),
];
