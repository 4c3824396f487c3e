import { z } from "zod";
import { defineRoutes } from "../../rest/route";
import * as health from "./service";

export const healthRoutes = defineRoutes([
  {
    method: "get",
    path: "/api/health",
    tag: "System",
    summary: "Health: the server and its database",
    public: true,
    response: z.object({ status: z.enum(["ok", "degraded"]), database: z.enum(["up", "down"]) }),
    handler: async ({ ctx, c }) => {
      const result = await health.get({ ctx });
      return result.database === "down" ? c.json(result, 503) : result;
    },
  },
]);
