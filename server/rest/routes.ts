import { agentRoutes } from "../modules/agents/rest";
import { auditRoutes } from "../modules/audit/rest";
import { billingRoutes } from "../modules/billing/rest";
import { budgetRoutes } from "../modules/budgets/rest";
import { invoiceRoutes } from "../modules/invoices/rest";
import { healthRoutes } from "../modules/health/rest";
import { insightRoutes } from "../modules/insights/rest";
import { orgRoutes } from "../modules/orgs/rest";
import { priceRoutes } from "../modules/prices/rest";
import { usageRoutes } from "../modules/usage/rest";
import { integrationRoutes } from "../modules/integrations/rest";
import { webhookRoutes } from "../modules/webhooks/rest";
import type { AnyRestRoute } from "./route";

/** Every documented REST operation, in the order the API docs list them. */
export const restRoutes: AnyRestRoute[] = [...healthRoutes, ...orgRoutes, ...agentRoutes, ...billingRoutes, ...invoiceRoutes, ...insightRoutes, ...usageRoutes, ...integrationRoutes, ...priceRoutes, ...auditRoutes, ...budgetRoutes, ...webhookRoutes];
