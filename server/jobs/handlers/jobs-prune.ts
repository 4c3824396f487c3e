import { jobHandler, jobsPrune } from "../kinds";
import * as jobs from "../service";

/** Failed jobs are kept this long for inspection. */
const FAILED_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

export const jobsPruneHandler = jobHandler(jobsPrune, async ({ ctx }) => {
  await jobs.pruneFailed(ctx.db, FAILED_RETENTION_MS);
});
