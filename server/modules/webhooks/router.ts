import { authedProcedure, router } from "../../trpc/init";
import { webhookCreateInput, webhookDeliveriesInput, webhookIdInput, webhookUpdateInput } from "./schema";
import * as webhooks from "./service";

export const webhooksRouter = router({
  list: authedProcedure.query(({ ctx }) => webhooks.list({ ctx })),
  get: authedProcedure.input(webhookIdInput).query(({ ctx, input }) => webhooks.get({ ctx, input })),
  create: authedProcedure.input(webhookCreateInput).mutation(({ ctx, input }) => webhooks.create({ ctx, input })),
  update: authedProcedure.input(webhookUpdateInput).mutation(({ ctx, input }) => webhooks.update({ ctx, input })),
  delete: authedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.delete({ ctx, input })),
  rotateSecret: authedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.rotateSecret({ ctx, input })),
  test: authedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.sendTest({ ctx, input })),
  deliveries: authedProcedure.input(webhookDeliveriesInput).query(({ ctx, input }) => webhooks.deliveries({ ctx, input })),
  retry: authedProcedure.input(webhookIdInput).mutation(({ ctx, input }) => webhooks.retry({ ctx, input })),
});
