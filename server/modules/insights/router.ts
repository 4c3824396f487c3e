import { authedProcedure, router } from "../../trpc/init";
import { insightsInput, whatIfInput } from "./schema";
import * as insights from "./service";

export const insightsRouter = router({
  allowances: authedProcedure.input(insightsInput).query(({ ctx, input }) => insights.allowances({ ctx, input })),
  whatIf: authedProcedure.input(whatIfInput).query(({ ctx, input }) => insights.whatIf({ ctx, input })),
});
