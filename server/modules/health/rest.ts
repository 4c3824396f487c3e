import { z } from "zod";
import { defineRoute } from "../../rest/route";
import * as health from "./service";

const healthOutput = z.object({ status: z.enum(["ok", "degraded"]), database: z.enum(["up", "down"]) });

export const healthRoutes = [
  defineRoute({
    method: "get",
    path: "/api/health",
    tag: "System",
    summary: "Health: the server and its database",
    public: true,
    response: healthOutput,
    responses: { 503: { description: "The database is unreachable", schema: healthOutput } },
    handler: async ({ ctx, c }) => {
      const result = await health.get({ ctx });
      return result.database === "down" ? c.json(result, 503) : result;
    },
  }),
];
