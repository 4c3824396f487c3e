import { sql } from "drizzle-orm";
import { bigint, boolean, check, customType, date, index, integer, jsonb, numeric, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { agents } from "./agents";
import { id, instant, money } from "./columns";
import { organizations } from "./orgs";

/**
 * Month close and invoices (docs/billing.md, "Month close and invoices"). Drafts are never stored:
 * they are computed whenever they are read. A row here is a finalized invoice, a frozen snapshot:
 * its lines and totals never change afterwards (a trigger refuses it); it can only become void.
 */

/** The platform's invoicing settings: one row (`id` is always true). */
export const invoicingSettings = pgTable(
  "invoicing_settings",
  {
    id: boolean("id").primaryKey().default(true),
    agencyName: text("agency_name").notNull().default("Orgdesk"),
    agencyAddress: text("agency_address").notNull().default(""),
    agencyEmail: text("agency_email"),
    /** Numbers are `<prefix>-<YYYY>-<NNNNN>`. */
    invoicePrefix: text("invoice_prefix").notNull().default("INV"),
    /** Days from issue to due date. */
    paymentTermsDays: integer("payment_terms_days").notNull().default(30),
    /** Days after a month ends before it is finalized automatically; null = manual only. */
    autoFinalizeAfterDays: integer("auto_finalize_after_days").default(3),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [
    check("invoicing_settings_one_row_check", sql`${t.id}`),
    check("invoicing_settings_terms_check", sql`${t.paymentTermsDays} between 0 and 365`),
    check("invoicing_settings_auto_check", sql`${t.autoFinalizeAfterDays} is null or ${t.autoFinalizeAfterDays} between 0 and 365`),
  ],
);

/** Invoicing settings of one organization (no row = the defaults: usage not billed). */
export const orgInvoicing = pgTable(
  "org_invoicing",
  {
    orgId: uuid("org_id").primaryKey().references(() => organizations.id),
    /** Percent added to token cost for the usage charge; null = usage not billed, 0 = at cost. */
    usageMarkupPct: numeric("usage_markup_pct", { precision: 7, scale: 2 }),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [check("org_invoicing_markup_check", sql`${t.usageMarkupPct} is null or ${t.usageMarkupPct} >= 0`)],
);

/**
 * The one gapless invoice sequence: a single row whose `last_number` the finalizing transaction
 * increments (and so locks until it commits). A failed finalization rolls the increment back.
 */
export const invoiceCounter = pgTable(
  "invoice_counter",
  {
    id: boolean("id").primaryKey().default(true),
    lastNumber: bigint("last_number", { mode: "number" }).notNull().default(0),
  },
  (t) => [check("invoice_counter_one_row_check", sql`${t.id}`), check("invoice_counter_last_check", sql`${t.lastNumber} >= 0`)],
);

/** A finalized (or void) invoice of one organization and month, in the organization's currency. */
export const invoices = pgTable(
  "invoices",
  {
    id: id(),
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    /** First UTC day of the invoiced month. */
    month: date("month", { mode: "string" }).notNull(),
    /** Position in the gapless sequence. */
    sequence: bigint("sequence", { mode: "number" }).notNull(),
    number: text("number").notNull(),
    /** `finalized` or `void`. */
    status: text("status").notNull(),
    currency: text("currency").notNull(),
    /** Client block as it was at finalization: name, slug, contact name and email. */
    client: jsonb("client").notNull(),
    /** Agency block as it was at finalization: name, address, email. */
    agency: jsonb("agency").notNull(),
    /** The organization's usage markup at finalization (null = usage not billed). */
    usageMarkupPct: numeric("usage_markup_pct", { precision: 7, scale: 2 }),
    subtotal: money("subtotal").notNull(),
    total: money("total").notNull(),
    issuedAt: instant("issued_at").notNull(),
    dueAt: instant("due_at").notNull(),
    finalizedAt: instant("finalized_at").notNull(),
    voidedAt: instant("voided_at"),
    voidReason: text("void_reason"),
  },
  (t) => [
    uniqueIndex("invoices_number_key").on(t.number),
    uniqueIndex("invoices_sequence_key").on(t.sequence),
    // One finalized invoice per organization and month: the month is closed while it exists.
    uniqueIndex("invoices_one_finalized_key").on(t.orgId, t.month).where(sql`${t.status} = 'finalized'`),
    index("invoices_month_idx").on(t.month),
    check("invoices_status_check", sql`${t.status} in ('finalized', 'void')`),
    check("invoices_void_check", sql`(${t.status} = 'void') = (${t.voidedAt} is not null and ${t.voidReason} is not null)`),
    check("invoices_month_check", sql`extract(day from ${t.month}) = 1`),
  ],
);

/** The frozen lines of a finalized invoice, in document order. */
export const invoiceLines = pgTable(
  "invoice_lines",
  {
    invoiceId: uuid("invoice_id").notNull().references(() => invoices.id),
    position: integer("position").notNull(),
    /** `seat`, `usage` or `adjustment`. */
    kind: text("kind").notNull(),
    description: text("description").notNull(),
    agentId: uuid("agent_id").references(() => agents.id),
    model: text("model"),
    /** Billed days for a seat line; 1 otherwise. */
    quantity: numeric("quantity", { precision: 14, scale: 2 }).notNull(),
    /** Monthly rate for a seat line; the amount otherwise (invoice currency). */
    unitAmount: money("unit_amount").notNull(),
    /** Invoice currency, rounded half-even to 2 decimals. */
    amount: money("amount").notNull(),
    /** For an adjustment: first day of the closed month whose usage charge it corrects. */
    adjustsMonth: date("adjusts_month", { mode: "string" }),
  },
  (t) => [
    primaryKey({ name: "invoice_lines_pkey", columns: [t.invoiceId, t.position] }),
    index("invoice_lines_adjusts_idx").on(t.adjustsMonth).where(sql`${t.adjustsMonth} is not null`),
    check("invoice_lines_kind_check", sql`${t.kind} in ('seat', 'usage', 'adjustment')`),
    check("invoice_lines_adjusts_check", sql`(${t.kind} = 'adjustment') = (${t.adjustsMonth} is not null)`),
  ],
);

/** Raw bytes (`bytea`), read back as a Uint8Array from postgres.js (a Buffer) and PGlite alike. */
const bytes = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  fromDriver: (value) => new Uint8Array(value),
});

/**
 * The PDF of a stored invoice, rendered once on its first download and served from here ever
 * after: a finalized invoice never changes, so neither does its document (docs/billing.md,
 * "Documents"). Keyed by the status it was rendered for — voiding adds the VOID-stamped document
 * beside the finalized one rather than replacing it.
 */
export const invoiceDocuments = pgTable(
  "invoice_documents",
  {
    invoiceId: uuid("invoice_id")
      .notNull()
      .references(() => invoices.id),
    /** The invoice status the document shows: `finalized` or `void`. */
    status: text("status").notNull(),
    pdf: bytes("pdf").notNull(),
    createdAt: instant("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: "invoice_documents_pkey", columns: [t.invoiceId, t.status] }), check("invoice_documents_status_check", sql`${t.status} in ('finalized', 'void')`)],
);
