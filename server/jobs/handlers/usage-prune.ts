import * as integrations from "../../modules/integrations/service";
import { jobHandler, usagePrune } from "../kinds";

export const usagePruneHandler = jobHandler(usagePrune, async ({ ctx }) => {
  await integrations.pruneOtelSpans(ctx.db);
  await integrations.pruneStats(ctx.db);
});
