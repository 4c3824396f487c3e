import { authedProcedure, router } from "../../trpc/init";
import {
  agentAssignableInput,
  agentAssignInput,
  agentCreateInput,
  agentIdInput,
  agentListInput,
  agentUnassignInput,
  agentUpdateInput,
} from "./schema";
import * as agents from "./service";

export const agentsRouter = router({
  list: authedProcedure.input(agentListInput).query(({ ctx, input }) => agents.list({ ctx, input })),
  get: authedProcedure.input(agentIdInput).query(({ ctx, input }) => agents.get({ ctx, input })),
  create: authedProcedure.input(agentCreateInput).mutation(({ ctx, input }) => agents.create({ ctx, input })),
  update: authedProcedure.input(agentUpdateInput).mutation(({ ctx, input }) => agents.update({ ctx, input })),
  assign: authedProcedure.input(agentAssignInput).mutation(({ ctx, input }) => agents.assign({ ctx, input })),
  unassign: authedProcedure.input(agentUnassignInput).mutation(({ ctx, input }) => agents.unassign({ ctx, input })),
  assignable: authedProcedure.input(agentAssignableInput).query(({ ctx, input }) => agents.assignable({ ctx, input })),
});
