import { z } from "zod";
import { authedProcedure, router } from "../../trpc/init";
import { keyCreateInput, keyIdInput } from "./schema";
import * as keys from "./service";

export const keysRouter = router({
  list: authedProcedure.input(z.object({}).optional()).query(({ ctx }) => keys.list({ ctx })),
  create: authedProcedure.input(keyCreateInput).mutation(({ ctx, input }) => keys.create({ ctx, input })),
  revoke: authedProcedure.input(keyIdInput).mutation(({ ctx, input }) => keys.revoke({ ctx, input })),
});
