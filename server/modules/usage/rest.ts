import { defineRoutes } from "../../rest/route";
import { repriceInput, repriceOutput, usageIngestBody, usageIngestOutput } from "./schema";
import * as usage from "./service";

export const usageRoutes = defineRoutes([
  {
    method: "post",
    path: "/api/usage",
    tag: "Usage",
    summary: "Ingest usage events (one, or a batch of up to 1000); idempotent by event id, per-item results",
    body: usageIngestBody,
    response: usageIngestOutput,
    handler: ({ ctx, body }) => usage.ingest({ ctx, input: body }),
  },
  {
    method: "post",
    path: "/api/usage/reprice",
    tag: "Usage",
    summary: "Re-price the events of a date range with the current prices (events with their own cost keep it)",
    body: repriceInput,
    response: repriceOutput,
    handler: ({ ctx, body }) => usage.reprice({ ctx, input: body }),
  },
]);
