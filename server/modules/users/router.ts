import { z } from "zod";
import { authedProcedure, router } from "../../trpc/init";
import { userCreateInput, userUpdateInput } from "./schema";
import * as users from "./service";

export const usersRouter = router({
  list: authedProcedure.input(z.object({}).optional()).query(({ ctx }) => users.list({ ctx })),
  create: authedProcedure.input(userCreateInput).mutation(({ ctx, input }) => users.create({ ctx, input })),
  update: authedProcedure.input(userUpdateInput).mutation(({ ctx, input }) => users.update({ ctx, input })),
});
