import { z } from "zod";
import { authedProcedure, publicProcedure, router } from "../../trpc/init";
import { setupInput, signInInput } from "./schema";
import * as auth from "./service";

export const authRouter = router({
  me: authedProcedure.input(z.object({}).optional()).query(({ ctx }) => auth.me({ ctx })),
  setupStatus: publicProcedure.input(z.object({}).optional()).query(({ ctx }) => auth.setupStatus({ ctx })),
  setup: publicProcedure.input(setupInput).mutation(({ ctx, input }) => auth.setup({ ctx, input })),
  signIn: publicProcedure.input(signInInput).mutation(({ ctx, input }) => auth.signIn({ ctx, input })),
  signOut: publicProcedure.input(z.object({}).optional()).mutation(({ ctx }) => auth.signOut({ ctx })),
});
