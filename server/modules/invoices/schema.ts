import { z } from "zod";
import { cursorInput, instantOutput, limitInput, moneyOutput, optionalEmail, orgRef, text } from "../../shared/fields";
import { parseDecimalInput } from "../../shared/money";
import { monthInput } from "../billing/schema";

/** `<prefix>-<YYYY>-<NNNNN>`; the prefix is 1–12 upper-case letters or digits. */
export const INVOICE_NUMBER_PATTERN = /^[A-Z0-9]{1,12}-\d{4}-\d{5,}$/;
export const invoiceNumber = z
  .string({ error: "must be an invoice number" })
  .max(40, { error: "must be an invoice number like INV-2026-00012", abort: true })
  .regex(INVOICE_NUMBER_PATTERN, "must be an invoice number like INV-2026-00012")
  .meta({ description: "Invoice number, `<prefix>-<YYYY>-<NNNNN>`", examples: ["INV-2026-00012"] });

export const INVOICE_STATUSES = ["draft", "finalized", "void"] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];
export const LINE_KINDS = ["seat", "usage", "adjustment"] as const;

export const invoiceLineOutput = z.object({
  kind: z.enum(LINE_KINDS),
  description: z.string(),
  agent_id: z.string().nullable(),
  model: z.string().nullable(),
  quantity: z.string().meta({ description: "Billed days (2 decimals) for a seat line; 1 otherwise" }),
  unit_amount: moneyOutput.meta({ description: "The monthly rate for a seat line; the amount otherwise" }),
  amount: moneyOutput,
  adjusts_month: z.string().nullable().meta({ description: "For an adjustment: the closed month (YYYY-MM) it corrects" }),
});
export type InvoiceLine = z.infer<typeof invoiceLineOutput>;

export const invoiceOutput = z.object({
  id: z.string().nullable().meta({ description: "Null for a draft" }),
  number: z.string().nullable().meta({ description: "Null for a draft" }),
  organization_id: z.string(),
  organization_name: z.string(),
  month: z.string(),
  currency: z.string(),
  status: z.enum(INVOICE_STATUSES),
  is_partial: z.boolean().meta({ description: "A draft of the current month: it counts up to now" }),
  lines: z.array(invoiceLineOutput),
  subtotal: moneyOutput,
  total: moneyOutput,
  issued_at: instantOutput.nullable(),
  due_at: instantOutput.nullable(),
  finalized_at: instantOutput.nullable(),
  voided_at: instantOutput.nullable(),
  void_reason: z.string().nullable(),
  client: z.object({ name: z.string(), slug: z.string(), contact_name: z.string().nullable(), contact_email: z.string().nullable() }),
  agency: z.object({ name: z.string(), address: z.string(), email: z.string().nullable() }),
});
export type Invoice = z.infer<typeof invoiceOutput>;

export const invoiceListFields = z.object({
  org: orgRef.optional().meta({ description: "Organization id or slug" }),
  status: z.enum(["finalized", "void"], { error: "must be finalized or void" }).optional(),
  month: monthInput.optional(),
  limit: limitInput,
  cursor: cursorInput,
});
export const invoiceListOutput = z.object({ invoices: z.array(invoiceOutput), next_cursor: z.string().nullable() });

export const orgInvoicesOutput = z.object({ organization_id: z.string(), currency: z.string(), invoices: z.array(invoiceOutput) });

export const orgMonthInput = z.object({ id: orgRef, month: monthInput });
export const invoiceNumberInput = z.object({ number: invoiceNumber });

export const DOCUMENT_FORMATS = ["json", "csv", "pdf"] as const;
export type DocumentFormat = (typeof DOCUMENT_FORMATS)[number];
/** tRPC's twin of the REST document downloads (docs/api.md, "Invoice documents"). */
export const invoiceDocumentInput = invoiceNumberInput.extend({ format: z.enum(DOCUMENT_FORMATS, { error: `must be one of ${DOCUMENT_FORMATS.join(", ")}` }) });

export const invoiceVoidFields = z.strictObject({ reason: text(500, 1) });
export const invoiceVoidInput = invoiceVoidFields.extend({ number: invoiceNumber });

const days = (max: number) =>
  z.number({ error: "must be a whole number of days" }).int("must be a whole number of days").min(0, "must be at least 0").max(max, `must be at most ${max}`);

export const invoicingSettingsFields = z.strictObject({
  agency_name: text(128, 1).optional(),
  agency_address: text(512).optional(),
  agency_email: optionalEmail,
  invoice_prefix: z
    .string({ error: "must be a string" })
    .max(12, "must be at most 12 characters")
    .regex(/^[A-Z0-9]{1,12}$/, "must be 1–12 upper-case letters or digits")
    .optional(),
  payment_terms_days: days(365).optional(),
  auto_finalize_after_days: days(365).nullable().optional().meta({ description: "Days after a month ends before it is finalized automatically; null = manual only" }),
});
export const invoicingSettingsOutput = z.object({
  agency_name: z.string(),
  agency_address: z.string(),
  agency_email: z.string().nullable(),
  invoice_prefix: z.string(),
  payment_terms_days: z.number().int(),
  auto_finalize_after_days: z.number().int().nullable(),
  updated_at: instantOutput,
});

/** A markup percentage: a decimal string or a JSON number ≥ 0 with at most 2 decimals, or null (usage not billed). */
const markupInput = z
  .union([z.number(), z.string().max(32, "must be at most 32 characters"), z.null()], { error: "must be a percentage like 20.00, or null" })
  .transform((value, ctx) => {
    if (value === null) return null;
    const parsed = parseDecimalInput(value, 2, 5);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }
    return parsed.value;
  })
  .meta({ description: "Percent added to token cost for the usage charge: null = usage not billed, 0 = at cost, 25.00 = cost × 1.25" });

export const orgInvoicingFields = z.strictObject({ usage_markup_pct: markupInput });
export const orgInvoicingInput = orgInvoicingFields.extend({ id: orgRef });
export const orgInvoicingOutput = z.object({ organization_id: z.string(), usage_markup_pct: z.string().nullable() });
