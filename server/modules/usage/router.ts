import { authedProcedure, router } from "../../trpc/init";
import { repriceInput, usageIngestInput } from "./schema";
import * as usage from "./service";

export const usageRouter = router({
  ingest: authedProcedure.input(usageIngestInput).mutation(({ ctx, input }) => usage.ingest({ ctx, input })),
  reprice: authedProcedure.input(repriceInput).mutation(({ ctx, input }) => usage.reprice({ ctx, input })),
});
