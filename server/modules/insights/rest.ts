import { orgPath } from "../../rest/params";
import { defineRoute } from "../../rest/route";
import { insightsFields, insightsOutput, whatIfFields, whatIfOutput } from "./schema";
import * as insights from "./service";

export const insightRoutes = [
  defineRoute({
    method: "get",
    path: "/api/organizations/:id/insights",
    tag: "Insights",
    summary: "Each agent's break-even token allowance for a month (default: the current one), in USD and in tokens at its blended price, and the share used",
    params: orgPath,
    query: insightsFields,
    response: insightsOutput,
    handler: ({ ctx, params, query }) => insights.allowances({ ctx, input: { ...query, ...params } }),
  }),
  defineRoute({
    method: "post",
    path: "/api/organizations/:id/what-if",
    tag: "Insights",
    summary: "A past month re-priced on another model and/or billed at another rate per agent, beside the actual figures (nothing is stored)",
    params: orgPath,
    body: whatIfFields,
    response: whatIfOutput,
    handler: ({ ctx, params, body }) => insights.whatIf({ ctx, input: { ...body, ...params } }),
  }),
];
