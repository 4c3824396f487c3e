import * as invoices from "../../modules/invoices/service";
import { invoicesAutoClose, jobHandler } from "../kinds";

/**
 * Each finalization commits in its own transaction behind its organization's lock, so a run that is
 * repeated (a lost lease, a second instance) finalizes nothing twice: it finds the months closed.
 */
export const invoicesAutoCloseHandler = jobHandler(invoicesAutoClose, async ({ ctx }) => {
  await invoices.autoClose(ctx);
});
