import { defineRoute } from "../../rest/route";
import { auditListInput, auditListOutput } from "./schema";
import * as audit from "./service";

export const auditRoutes = [
  defineRoute({
    method: "get",
    path: "/api/audit",
    tag: "Audit",
    summary: "Audit log, newest first (filter by organization, actor, action; cursor pagination)",
    query: auditListInput,
    response: auditListOutput,
    errors: [404],
    handler: ({ ctx, query }) => audit.list({ ctx, input: query }),
  }),
];
