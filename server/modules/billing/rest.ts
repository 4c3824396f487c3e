import { orgPath } from "../../rest/params";
import { defineRoute } from "../../rest/route";
import { billingExportFields, billingRangeFields, billingRecordsOutput, billingSummaryOutput, overviewInput, overviewOutput } from "./schema";
import * as billing from "./service";

export const billingRoutes = [
  defineRoute({
    method: "get",
    path: "/api/organizations/:id/billing-summary",
    tag: "Billing",
    summary: "Monthly revenue, token cost, FX rate, margin and tokens of an organization (default: the last 12 months)",
    params: orgPath,
    query: billingRangeFields,
    response: billingSummaryOutput,
    handler: ({ ctx, params, query }) => billing.summary({ ctx, input: { ...query, ...params } }),
  }),
  defineRoute({
    method: "get",
    path: "/api/organizations/:id/billing",
    tag: "Billing",
    summary: "Per agent and month: rate, billed days, revenue, token cost, tokens, margin (`months=N` counts months)",
    params: orgPath,
    query: billingRangeFields,
    response: billingRecordsOutput,
    handler: ({ ctx, params, query }) => billing.records({ ctx, input: { ...query, ...params } }),
  }),
  defineRoute({
    method: "get",
    path: "/api/organizations/:id/billing/export",
    tag: "Billing",
    summary: "Download the per-agent billing records as CSV (default) or JSON (`format=json`: the records document)",
    params: orgPath,
    query: billingExportFields,
    response: billingRecordsOutput,
    produces: ["text/csv"],
    handler: async ({ ctx, params, query }) => {
      const file = await billing.export({ ctx, input: { ...query, ...params } });
      return new Response(file.content, {
        headers: {
          "content-type": file.content_type,
          "content-disposition": `attachment; filename="${file.filename}"`,
          "cache-control": "no-store",
        },
      });
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/billing/overview",
    tag: "Billing",
    summary: "Every organization's revenue, cost and margin for a month (default: the current one), with USD totals",
    query: overviewInput,
    response: overviewOutput,
    handler: ({ ctx, query }) => billing.overview({ ctx, input: query }),
  }),
];
