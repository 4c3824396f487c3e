import type { JobHandler } from "../kinds";
import { budgetsEvaluateHandler, budgetsSweepHandler } from "./budgets";
import { invoicesAutoCloseHandler } from "./invoices-auto-close";
import { jobsPruneHandler } from "./jobs-prune";
import { usageFoldHandler, usagePartitionsHandler, usageRetentionHandler } from "./usage-partitions";
import { usagePruneHandler } from "./usage-prune";
import { webhookDeliverHandler } from "./webhook-deliver";
import { webhookPruneHandler } from "./webhook-prune";

/** The handler of every kind in kinds.ts: what the runner of each instance runs. */
export const JOB_HANDLERS: JobHandler[] = [webhookDeliverHandler, webhookPruneHandler, jobsPruneHandler, budgetsEvaluateHandler, budgetsSweepHandler, invoicesAutoCloseHandler, usagePartitionsHandler, usageRetentionHandler, usagePruneHandler, usageFoldHandler];
