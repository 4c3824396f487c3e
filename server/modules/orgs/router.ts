import { authedProcedure, router } from "../../trpc/init";
import { orgCreateInput, orgIdInput, orgListInput, orgToggleInput, orgUpdateInput } from "./schema";
import * as orgs from "./service";

export const orgsRouter = router({
  list: authedProcedure.input(orgListInput).query(({ ctx, input }) => orgs.list({ ctx, input })),
  get: authedProcedure.input(orgIdInput).query(({ ctx, input }) => orgs.get({ ctx, input })),
  create: authedProcedure.input(orgCreateInput).mutation(({ ctx, input }) => orgs.create({ ctx, input })),
  update: authedProcedure.input(orgUpdateInput).mutation(({ ctx, input }) => orgs.update({ ctx, input })),
  delete: authedProcedure.input(orgIdInput).mutation(({ ctx, input }) => orgs.delete({ ctx, input })),
  toggle: authedProcedure.input(orgToggleInput).mutation(({ ctx, input }) => orgs.toggle({ ctx, input })),
});
