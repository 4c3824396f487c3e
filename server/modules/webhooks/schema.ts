import { z } from "zod";
import { cursorInput, forbiddenField, instantOutput, optionalText } from "../../shared/fields";

/** Every event type an endpoint can subscribe to (docs/guardrails.md, "Events"). */
export const WEBHOOK_EVENT_TYPES = [
  "organization.created",
  "organization.updated",
  "organization.deleted",
  "organization.activated",
  "organization.deactivated",
  "agent.created",
  "agent.updated",
  "agent.assigned",
  "agent.unassigned",
  "agent.rate_changed",
  "agent.suspended",
  "agent.resumed",
  "invoice.finalized",
  "invoice.voided",
  "budget.threshold_crossed",
  "usage.unpriced_model",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The type of "send test event": sent to the one endpoint it was asked for, whatever it subscribes to. */
export const TEST_EVENT_TYPE = "webhook.test";

const eventTypesInput = z
  .array(z.enum(WEBHOOK_EVENT_TYPES, { error: "is not a known event type" }), { error: "must be a list of event types, or null for every type" })
  .min(1, "must name at least one event type (null = every type)")
  .max(WEBHOOK_EVENT_TYPES.length, `must name at most ${WEBHOOK_EVENT_TYPES.length} event types`)
  .refine((types) => new Set(types).size === types.length, "must not repeat an event type")
  .nullable()
  .meta({ description: "Event types to receive; null (or absent on create) = every type" });

/** A receiver URL as typed; whether its scheme and address are allowed is decided by the service. */
const urlInput = z
  .string({ error: "must be a URL" })
  .trim()
  .min(1, "must not be empty")
  .max(2048, "must be at most 2048 characters")
  .meta({ description: "https URL of the receiver", examples: ["https://hooks.example.com/orgdesk"] });

export const webhookCreateInput = z.strictObject({
  url: urlInput,
  description: optionalText(256),
  event_types: eventTypesInput.optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
});

export const webhookUpdateFields = z.strictObject({
  url: urlInput.optional(),
  description: optionalText(256),
  event_types: eventTypesInput.optional(),
  /** Enabling an endpoint that a 410 disabled clears `disabled_reason`. */
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  secret: forbiddenField("cannot be set; use rotate-secret"),
  id: forbiddenField("cannot be changed"),
});

/** An id in a path or body; one that is not a UUID is simply not found. */
const idInput = z.string({ error: "must be an id" }).min(1, "must not be empty").max(128, "is too long");
export const webhookIdInput = z.object({ id: idInput });
export const webhookUpdateInput = webhookUpdateFields.extend({ id: idInput });

export const webhookOutput = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  event_types: z.array(z.string()).nullable().meta({ description: "null = every event type" }),
  enabled: z.boolean(),
  /** Set when the endpoint was disabled by a 410 from the receiver. */
  disabled_reason: z.string().nullable(),
  /** While set and in the future, deliveries are also signed with the secret before the last rotation. */
  previous_secret_expires_at: instantOutput.nullable(),
  created_at: instantOutput,
  updated_at: instantOutput,
});

export const webhookSecretOutput = z.object({
  /** `whsec_…`: shown once, here; it cannot be read again (rotate to get a new one). */
  secret: z.string().meta({ description: "Signing secret `whsec_…`, shown only in this response" }),
});

export const webhookCreateOutput = webhookOutput.extend(webhookSecretOutput.shape);
export const webhookRotateOutput = webhookOutput.extend(webhookSecretOutput.shape);
export const webhookListOutput = z.object({ webhooks: z.array(webhookOutput) });
export const webhookDeleteOutput = z.object({ success: z.literal(true), id: z.string() });

export const DELIVERY_STATUSES = ["pending", "succeeded", "failed"] as const;

export const webhookAttemptOutput = z.object({
  attempted_at: instantOutput,
  /** null when there was no HTTP response (refused address, connection error, timeout). */
  status_code: z.number().int().nullable(),
  /** First 1 KB of the response body. */
  response_body: z.string().nullable(),
  duration_ms: z.number().int(),
  error: z.string().nullable(),
  /** Started by a retry from the delivery log. */
  manual: z.boolean(),
});

export const webhookDeliveryOutput = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  /** The `webhook-id` header of every attempt. */
  event_id: z.string(),
  event_type: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempt_count: z.number().int(),
  next_attempt_at: instantOutput.nullable(),
  last_attempt_at: instantOutput.nullable(),
  last_status_code: z.number().int().nullable(),
  created_at: instantOutput,
  completed_at: instantOutput.nullable(),
  /** Oldest first. */
  attempts: z.array(webhookAttemptOutput),
});

export const webhookDeliveriesQuery = z.object({
  status: z.enum(DELIVERY_STATUSES, { error: "must be pending, succeeded or failed" }).optional(),
  limit: z.coerce.number({ error: "must be a whole number" }).int("must be a whole number").min(1, "must be at least 1").max(100, "must be at most 100").default(20),
  cursor: cursorInput,
});
export const webhookDeliveriesInput = webhookDeliveriesQuery.extend({ id: idInput });
export const webhookDeliveriesOutput = z.object({ deliveries: z.array(webhookDeliveryOutput), next_cursor: z.string().nullable() });

export type Webhook = z.infer<typeof webhookOutput>;
export type WebhookDelivery = z.infer<typeof webhookDeliveryOutput>;
export type WebhookCreateInput = z.infer<typeof webhookCreateInput>;
export type WebhookUpdateInput = z.infer<typeof webhookUpdateInput>;
