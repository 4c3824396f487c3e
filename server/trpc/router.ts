import { agentsRouter } from "../modules/agents/router";
import { auditRouter } from "../modules/audit/router";
import { authRouter } from "../modules/auth/router";
import { integrationsRouter } from "../modules/integrations/router";
import { insightsRouter } from "../modules/insights/router";
import { keysRouter } from "../modules/keys/router";
import { usersRouter } from "../modules/users/router";
import { billingRouter } from "../modules/billing/router";
import { alertsRouter, budgetsRouter } from "../modules/budgets/router";
import { invoicesRouter } from "../modules/invoices/router";
import { orgsRouter } from "../modules/orgs/router";
import { pricesRouter } from "../modules/prices/router";
import { usageRouter } from "../modules/usage/router";
import { webhooksRouter } from "../modules/webhooks/router";
import { router } from "./init";

/** Every tRPC procedure. The web app imports only its type. */
export const appRouter = router({
  orgs: orgsRouter,
  agents: agentsRouter,
  billing: billingRouter,
  invoices: invoicesRouter,
  insights: insightsRouter,
  prices: pricesRouter,
  usage: usageRouter,
  integrations: integrationsRouter,
  auth: authRouter,
  users: usersRouter,
  keys: keysRouter,
  audit: auditRouter,
  webhooks: webhooksRouter,
  budgets: budgetsRouter,
  alerts: alertsRouter,
});

export type AppRouter = typeof appRouter;
