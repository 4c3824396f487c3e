import { agentOutput } from "../agents/schema";
import { defineRoutes } from "../../rest/route";
import {
  orgCreateInput,
  orgDeleteOutput,
  orgListInput,
  orgListOutput,
  orgOutput,
  orgToggleFields,
  orgToggleOutput,
  orgUpdateFields,
} from "./schema";
import * as orgs from "./service";
import { z } from "zod";

export const orgRoutes = defineRoutes([
  {
    method: "get",
    path: "/api/organizations",
    tag: "Organizations",
    summary: "List organizations (search, status filter, cursor pagination)",
    query: orgListInput,
    response: orgListOutput,
    handler: ({ ctx, query }) => orgs.list({ ctx, input: query }),
  },
  {
    method: "post",
    path: "/api/organizations",
    tag: "Organizations",
    summary: "Create an organization",
    body: orgCreateInput,
    response: orgOutput,
    status: 201,
    handler: ({ ctx, body }) => orgs.create({ ctx, input: body }),
  },
  {
    method: "get",
    path: "/api/organizations/:id",
    tag: "Organizations",
    summary: "Get an organization (by id or slug) with its agents",
    response: orgOutput.extend({ agents: z.array(agentOutput) }),
    handler: ({ ctx, params }) => orgs.get({ ctx, input: { id: params.id! } }),
  },
  {
    method: "patch",
    path: "/api/organizations/:id",
    tag: "Organizations",
    summary: "Update an organization (not its slug); `effective_at` backdates a rate change",
    body: orgUpdateFields,
    response: orgOutput,
    handler: ({ ctx, params, body }) => orgs.update({ ctx, input: { ...body, id: params.id! } }),
  },
  {
    method: "delete",
    path: "/api/organizations/:id",
    tag: "Organizations",
    summary: "Delete an organization that has no agents",
    response: orgDeleteOutput,
    handler: ({ ctx, params }) => orgs.delete({ ctx, input: { id: params.id! } }),
  },
  {
    method: "post",
    path: "/api/organizations/:id/toggle",
    tag: "Organizations",
    summary: "Activate or deactivate (explicit `is_active` sets it; no body flips it)",
    body: orgToggleFields,
    bodyOptional: true,
    response: orgToggleOutput,
    handler: ({ ctx, params, body }) => orgs.toggle({ ctx, input: { ...(body ?? {}), id: params.id! } }),
  },
]);
