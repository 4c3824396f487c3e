import { authedProcedure, router } from "../../trpc/init";
import { billingExportInput, billingRangeFields, billingRangeInput, overviewInput } from "./schema";
import * as billing from "./service";

export const billingRouter = router({
  summary: authedProcedure.input(billingRangeInput).query(({ ctx, input }) => billing.summary({ ctx, input })),
  records: authedProcedure.input(billingRangeInput).query(({ ctx, input }) => billing.records({ ctx, input })),
  export: authedProcedure.input(billingExportInput).query(({ ctx, input }) => billing.export({ ctx, input })),
  overview: authedProcedure.input(overviewInput).query(({ ctx, input }) => billing.overview({ ctx, input })),
  orgView: authedProcedure.input(billingRangeInput).query(({ ctx, input }) => billing.orgView({ ctx, input })),
  dashboard: authedProcedure.input(billingRangeFields).query(({ ctx, input }) => billing.dashboard({ ctx, input })),
});
