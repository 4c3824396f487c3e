import { authedProcedure, router } from "../../trpc/init";
import { fxPutInput, pricesPutInput } from "./schema";
import * as prices from "./service";

export const pricesRouter = router({
  list: authedProcedure.query(({ ctx }) => prices.list({ ctx })),
  put: authedProcedure.input(pricesPutInput).mutation(({ ctx, input }) => prices.put({ ctx, input })),
  fxList: authedProcedure.query(({ ctx }) => prices.fxList({ ctx })),
  fxPut: authedProcedure.input(fxPutInput).mutation(({ ctx, input }) => prices.fxPut({ ctx, input })),
});
