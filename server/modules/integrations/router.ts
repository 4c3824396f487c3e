import { authedProcedure, router } from "../../trpc/init";
import { attributeSpansInput } from "./schema";
import * as integrations from "./service";

export const integrationsRouter = router({
  overview: authedProcedure.query(({ ctx }) => integrations.overview({ ctx })),
  attributeSpans: authedProcedure.input(attributeSpansInput).mutation(({ ctx, input }) => integrations.attributeSpans({ ctx, input })),
});
