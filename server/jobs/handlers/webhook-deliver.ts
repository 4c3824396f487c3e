import * as webhooks from "../../modules/webhooks/service";
import type { RowQueue } from "../kinds";
import { WEBHOOK_DELIVERY_KIND } from "../service";

/**
 * Webhook deliveries, claimed in batches straight from `webhook_deliveries` (each delivery row is
 * its own queue entry, docs/guardrails.md); each delivery keeps its own retry schedule.
 */
export const webhookDeliveryQueue: RowQueue<webhooks.DeliveryBatch> = {
  kind: WEBHOOK_DELIVERY_KIND,
  // A batch starts no request later than one request limit into the run (the start budget, see
  // `webhooks.deliver`), so its last request ends by two limits; plus resolving addresses and recording.
  timeoutMs: (config) => 2 * config.webhookTimeoutMs + 2000,
  claim: (ctx, claim) => webhooks.claimDue(ctx.db, claim),
  inFlight: webhooks.DELIVERY_IN_FLIGHT,
  run: (ctx, batch, signal, dispatched, permits) => webhooks.deliver(ctx, batch, signal, { dispatched, permits }),
  release: (ctx, token, delayMs) => webhooks.release(ctx.db, token, delayMs),
};
