import * as retention from "../../modules/retention/service";
import { log } from "../../observability/log";
import * as usage from "../../modules/usage/service";
import { jobHandler, usageFold, usagePartitions, usageRetention } from "../kinds";

export const usagePartitionsHandler = jobHandler(usagePartitions, async ({ ctx }) => {
  const created = await retention.createAhead(ctx);
  if (created.length > 0) log.info(`[usage] created the usage_events partitions of ${created.join(", ")}`);
});

export const usageRetentionHandler = jobHandler(usageRetention, async ({ ctx }) => {
  const run = await retention.dropExpired(ctx);
  if (run.dropped.length > 0) log.info(`[usage] dropped the raw usage events of ${run.dropped.join(", ")} (USAGE_RETENTION_MONTHS=${ctx.config.usageRetentionMonths})`);
  for (const k of run.kept) log.warn(`[usage] kept the raw usage events of ${k.month}, past the retention window: ${k.reason}`);
});

export const usageFoldHandler = jobHandler(usageFold, async ({ ctx }) => {
  await usage.foldRollups(ctx.db);
});
