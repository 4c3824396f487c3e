import { authedProcedure, router } from "../../trpc/init";
import { auditListInput } from "./schema";
import * as audit from "./service";

export const auditRouter = router({
  list: authedProcedure.input(auditListInput).query(({ ctx, input }) => audit.list({ ctx, input })),
});
