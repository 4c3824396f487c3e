import * as maintenance from "../../modules/maintenance/service";
import { log } from "../../observability/log";
import { dbVacuum, jobHandler } from "../kinds";

export const dbVacuumHandler = jobHandler(dbVacuum, async ({ ctx }) => {
  if (!(await maintenance.whyNoAutovacuum(ctx.db))) return;
  for (const done of await maintenance.vacuumWhereDue(ctx.db)) {
    log.info(`[vacuum] ${done.work} ${done.table}`, { table: done.table, work: done.work, dead_rows_before: done.deadBefore, duration_ms: done.ms });
  }
});
