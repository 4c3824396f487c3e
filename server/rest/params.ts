import { z, type ZodObject, type ZodRawShape } from "zod";
import { orgRef, uuidString } from "../shared/fields";
import { monthInput } from "../modules/billing/schema";
import { invoiceNumber } from "../modules/invoices/schema";

const resources = new WeakMap<ZodObject, string>();

/**
 * The path parameters of a resource. A value they refuse (not a UUID, too long) names nothing that
 * can exist, so it is that resource's 404, worded like the service's for an unknown id: a path
 * never answers 400.
 */
export function pathParams<T extends ZodRawShape>(resource: string, shape: T) {
  const schema = z.object(shape);
  resources.set(schema, resource);
  return schema;
}

/** The resource a path-parameter schema belongs to, for its 404. */
export const resourceOf = (schema: ZodObject) => resources.get(schema) ?? "Resource";

/** `/api/organizations/:id`: wherever an organization id is taken in a path, its slug works too. */
export const orgPath = pathParams("Organization", { id: orgRef.meta({ description: "Organization id or slug" }) });

/** `/api/agents/:id`. */
export const agentPath = pathParams("Agent", { id: uuidString.meta({ description: "Agent id" }) });

/** `/api/webhooks/:id`. */
export const webhookPath = pathParams("Webhook", { id: uuidString.meta({ description: "Webhook endpoint id" }) });

/** `/api/webhooks/deliveries/:id`. */
export const deliveryPath = pathParams("Delivery", { id: uuidString.meta({ description: "Delivery id" }) });

/** `/api/budgets/:id`. */
export const budgetPath = pathParams("Budget", { id: uuidString.meta({ description: "Budget id" }) });

/** `/api/alerts/:id`. */
export const alertPath = pathParams("Alert", { id: uuidString.meta({ description: "Alert id" }) });
/** `/api/invoices/:number`. */
export const invoicePath = pathParams("Invoice", { number: invoiceNumber });

/** `/api/organizations/:id/invoices/:month`. */
export const orgMonthPath = pathParams("Organization", { id: orgRef.meta({ description: "Organization id or slug" }), month: monthInput });
