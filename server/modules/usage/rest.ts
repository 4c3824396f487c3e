import { defineRoute } from "../../rest/route";
import { MAX_BATCH, repriceInput, repriceOutput, usageEventInput, usageIngestBody, usageIngestOutput } from "./schema";
import * as usage from "./service";

export const usageRoutes = [
  defineRoute({
    method: "post",
    path: "/api/usage",
    tag: "Usage",
    summary: `Ingest usage events (one, or a batch of up to ${MAX_BATCH}); idempotent by event id, per-item results`,
    body: usageIngestBody,
    response: usageIngestOutput,
    tooLarge: `a batch of more than ${MAX_BATCH} events`,
    components: { UsageEvent: usageEventInput },
    handler: ({ ctx, body }) => usage.ingest({ ctx, input: body }),
  }),
  defineRoute({
    method: "post",
    path: "/api/usage/reprice",
    tag: "Usage",
    summary: "Re-price the events of a date range with the current prices (events with their own cost keep it)",
    body: repriceInput,
    response: repriceOutput,
    handler: ({ ctx, body }) => usage.reprice({ ctx, input: body }),
  }),
];
