import * as webhooks from "../../modules/webhooks/service";
import { jobHandler, webhookDeliver } from "../kinds";

/** One attempt of one webhook delivery; the delivery keeps its own retry schedule (webhooks.deliver). */
export const webhookDeliverHandler = jobHandler(webhookDeliver, (run) => webhooks.deliver(run));
