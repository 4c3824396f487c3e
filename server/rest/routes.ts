import { agentRoutes } from "../modules/agents/rest";
import { auditRoutes } from "../modules/audit/rest";
import { healthRoutes } from "../modules/health/rest";
import { orgRoutes } from "../modules/orgs/rest";
import type { RestRoute } from "./route";

/** Every documented REST operation, in the order the API docs list them. */
export const restRoutes: RestRoute[] = [...healthRoutes, ...orgRoutes, ...agentRoutes, ...auditRoutes];
