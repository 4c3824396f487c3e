import { agentsRouter } from "../modules/agents/router";
import { orgsRouter } from "../modules/orgs/router";
import { router } from "./init";

/** Every tRPC procedure. The web app imports only its type. */
export const appRouter = router({
  orgs: orgsRouter,
  agents: agentsRouter,
});

export type AppRouter = typeof appRouter;
