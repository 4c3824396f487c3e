import { agentsRouter } from "../modules/agents/router";
import { auditRouter } from "../modules/audit/router";
import { authRouter } from "../modules/auth/router";
import { keysRouter } from "../modules/keys/router";
import { usersRouter } from "../modules/users/router";
import { orgsRouter } from "../modules/orgs/router";
import { router } from "./init";

/** Every tRPC procedure. The web app imports only its type. */
export const appRouter = router({
  orgs: orgsRouter,
  agents: agentsRouter,
  auth: authRouter,
  users: usersRouter,
  keys: keysRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;
