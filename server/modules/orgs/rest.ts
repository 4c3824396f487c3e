import { z } from "zod";
import { orgPath } from "../../rest/params";
import { defineRoute } from "../../rest/route";
import { agentOutput } from "../agents/schema";
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

export const orgRoutes = [
  defineRoute({
    method: "get",
    path: "/api/organizations",
    tag: "Organizations",
    summary: "List organizations (search, status filter, cursor pagination)",
    query: orgListInput,
    response: orgListOutput,
    handler: ({ ctx, query }) => orgs.list({ ctx, input: query }),
  }),
  defineRoute({
    method: "post",
    path: "/api/organizations",
    tag: "Organizations",
    summary: "Create an organization",
    body: orgCreateInput,
    response: orgOutput,
    status: 201,
    errors: [409],
    handler: ({ ctx, body }) => orgs.create({ ctx, input: body }),
  }),
  defineRoute({
    method: "get",
    path: "/api/organizations/:id",
    tag: "Organizations",
    summary: "Get an organization (by id or slug) with its agents",
    params: orgPath,
    response: orgOutput.extend({ agents: z.array(agentOutput) }),
    handler: ({ ctx, params }) => orgs.get({ ctx, input: params }),
  }),
  defineRoute({
    method: "patch",
    path: "/api/organizations/:id",
    tag: "Organizations",
    summary: "Update an organization (not its slug); `effective_at` backdates a rate change",
    params: orgPath,
    body: orgUpdateFields,
    response: orgOutput,
    errors: [409],
    handler: ({ ctx, params, body }) => orgs.update({ ctx, input: { ...body, ...params } }),
  }),
  defineRoute({
    method: "delete",
    path: "/api/organizations/:id",
    tag: "Organizations",
    summary: "Delete an organization that has no agents",
    params: orgPath,
    response: orgDeleteOutput,
    errors: [409],
    handler: ({ ctx, params }) => orgs.delete({ ctx, input: params }),
  }),
  defineRoute({
    method: "post",
    path: "/api/organizations/:id/toggle",
    tag: "Organizations",
    summary: "Activate or deactivate (explicit `is_active` sets it; no body flips it)",
    params: orgPath,
    body: orgToggleFields,
    bodyOptional: true,
    response: orgToggleOutput,
    errors: [409],
    handler: ({ ctx, params, body }) => orgs.toggle({ ctx, input: { ...body, ...params } }),
  }),
];
