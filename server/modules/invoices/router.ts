import { orgIdInput } from "../orgs/schema";
import { authedProcedure, router } from "../../trpc/init";
import { invoiceDocumentInput, invoiceListFields, invoiceNumberInput, invoiceVoidInput, invoicingSettingsFields, orgInvoicingInput, orgMonthInput } from "./schema";
import * as invoices from "./service";

export const invoicesRouter = router({
  list: authedProcedure.input(invoiceListFields).query(({ ctx, input }) => invoices.list({ ctx, input })),
  orgList: authedProcedure.input(orgIdInput).query(({ ctx, input }) => invoices.orgList({ ctx, input })),
  get: authedProcedure.input(orgMonthInput).query(({ ctx, input }) => invoices.get({ ctx, input })),
  byNumber: authedProcedure.input(invoiceNumberInput).query(({ ctx, input }) => invoices.getByNumber({ ctx, input })),
  document: authedProcedure.input(invoiceDocumentInput).query(({ ctx, input }) => invoices.documentFile({ ctx, input })),
  finalize: authedProcedure.input(orgMonthInput).mutation(({ ctx, input }) => invoices.finalize({ ctx, input })),
  void: authedProcedure.input(invoiceVoidInput).mutation(({ ctx, input }) => invoices.void({ ctx, input })),
  settings: authedProcedure.query(({ ctx }) => invoices.settingsGet({ ctx })),
  settingsPut: authedProcedure.input(invoicingSettingsFields).mutation(({ ctx, input }) => invoices.settingsPut({ ctx, input })),
  orgSettings: authedProcedure.input(orgIdInput).query(({ ctx, input }) => invoices.orgSettingsGet({ ctx, input })),
  orgSettingsPut: authedProcedure.input(orgInvoicingInput).mutation(({ ctx, input }) => invoices.orgSettingsPut({ ctx, input })),
});
