import { defineRoute } from "../../rest/route";
import { attributeSpansInput, attributeSpansOutput, integrationsOverviewOutput } from "./schema";
import * as integrations from "./service";

export const integrationRoutes = [
  defineRoute({
    method: "get",
    path: "/api/integrations",
    tag: "Usage",
    summary: "Integrations overview: this server's address, per-source ingestion statistics of the last 24 hours, unattributed OpenTelemetry spans",
    response: integrationsOverviewOutput,
    handler: ({ ctx }) => integrations.overview({ ctx }),
  }),
  defineRoute({
    method: "post",
    path: "/api/integrations/otel/attribute",
    tag: "Usage",
    summary: "Bill a trace's unattributed OpenTelemetry spans (or the named ones) to an agent, through the normal ingestion rules",
    body: attributeSpansInput,
    response: attributeSpansOutput,
    errors: [404],
    handler: ({ ctx, body }) => integrations.attributeSpans({ ctx, input: body }),
  }),
];
