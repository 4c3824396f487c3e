import { defineRoutes } from "../../rest/route";
import { auditListInput, auditListOutput } from "./schema";
import * as audit from "./service";

export const auditRoutes = defineRoutes([
  {
    method: "get",
    path: "/api/audit",
    tag: "Audit",
    summary: "Audit log, newest first (filter by organization, actor, action; cursor pagination)",
    query: auditListInput,
    response: auditListOutput,
    handler: ({ ctx, query }) => audit.list({ ctx, input: query }),
  },
]);
