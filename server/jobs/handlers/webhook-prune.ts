import * as webhooks from "../../modules/webhooks/service";
import { jobHandler, webhookPrune } from "../kinds";

export const webhookPruneHandler = jobHandler(webhookPrune, async ({ ctx }) => {
  await webhooks.prune(ctx);
});
