import type { JobHandler, RowQueue } from "../kinds";
import { budgetsEvaluateHandler, budgetsSweepHandler } from "./budgets";
import { dbVacuumHandler } from "./db-vacuum";
import { invoicesAutoCloseHandler } from "./invoices-auto-close";
import { jobsPruneHandler } from "./jobs-prune";
import { usageFoldHandler, usagePartitionsHandler, usageRetentionHandler } from "./usage-partitions";
import { usagePruneHandler } from "./usage-prune";
import { webhookDeliveryQueue } from "./webhook-deliver";
import { webhookPruneHandler } from "./webhook-prune";

/** The handler of every kind in kinds.ts: what the runner of each instance runs. */
export const JOB_HANDLERS: JobHandler[] = [webhookPruneHandler, jobsPruneHandler, budgetsEvaluateHandler, budgetsSweepHandler, invoicesAutoCloseHandler, usagePartitionsHandler, usageRetentionHandler, usagePruneHandler, usageFoldHandler, dbVacuumHandler];

/** The queues whose rows are their own entries (kinds.ts, RowQueue): what the runner of each instance claims besides jobs. */
export const ROW_QUEUES: RowQueue<any>[] = [webhookDeliveryQueue];
