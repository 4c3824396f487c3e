import { and, asc, desc, eq, inArray, isNull, lt, sql } from "drizzle-orm";
import type { z } from "zod";
import { type DbOrTx, rows, type Tx } from "../../../db/client";
import { fxRates, invoiceCounter, invoiceDocuments, invoiceLines, invoices, invoicingSettings, organizations, orgInvoicing, usageMonthTotals } from "../../../db/schema";
import { authorize, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, notFound } from "../../errors";
import { decodeCursor, encodeCursor } from "../../shared/cursor";
import { add, dec, isZero, type Ratio, round, sub, sum } from "../../shared/money";
import { addMonths, monthEnd, monthOf, monthsBetween } from "../../shared/time";
import * as audit from "../audit/service";
import { fxForMonth, type Line, type UsageCharge, usageCharges as chargesOf } from "../billing/lines";
import * as billing from "../billing/service";
import * as evaluations from "../evaluations/service";
import * as events from "../events/service";
import { invoiceCsv, invoicePdf } from "./documents";
import { findOrg, type OrgRow } from "../tenancy/service";
import type { DocumentFormat, Invoice, InvoiceLine, invoiceListFields, invoicingSettingsFields, orgInvoicingInput } from "./schema";

/**
 * Month close and invoices (docs/billing.md, "Month close and invoices"). A draft is computed
 * whenever it is read, from the same agent-month lines as the billing summary plus the usage
 * charges; finalizing freezes it into `invoices` and `invoice_lines` under the next number of the
 * one gapless sequence. From then on the month is closed for the organization: the period module's
 * `assertOpen` refuses changes into it, and whatever still changes its usage charge (late usage,
 * prices, FX) reaches the client once, as adjustment lines on the next invoice that is not
 * finalized — derived here as "charge now known − charge already billed", so nothing has to
 * remember to post them and nothing can post them twice.
 */

const DAY_MS = 86_400_000;
/** Months a listing of one organization covers at most (the newest ones). */
const MAX_LISTED_MONTHS = 120;

// ---------------------------------------------------------------------------------------------
// Settings.

export type Settings = typeof invoicingSettings.$inferSelect;

export async function loadSettings(db: DbOrTx): Promise<Settings> {
  const [row] = await db.select().from(invoicingSettings).where(eq(invoicingSettings.id, true));
  if (!row) throw new AppError("INTERNAL", "Invoicing settings are missing");
  return row;
}

const settingsOutput = (s: Settings) => ({
  agency_name: s.agencyName,
  agency_address: s.agencyAddress,
  agency_email: s.agencyEmail,
  invoice_prefix: s.invoicePrefix,
  payment_terms_days: s.paymentTermsDays,
  auto_finalize_after_days: s.autoFinalizeAfterDays,
  updated_at: s.updatedAt.toISOString(),
});

/** The platform's invoicing settings (agency block, number prefix, payment terms, automatic close). */
export async function settingsGet({ ctx }: { ctx: Ctx; input?: unknown }) {
  authorize(ctx.principal, "billing.read");
  return settingsOutput(await loadSettings(ctx.db));
}

/** Changes the invoicing settings; finalized invoices keep the agency block and number they were issued with. */
export async function settingsPut({ ctx, input }: { ctx: Ctx; input: z.infer<typeof invoicingSettingsFields> }) {
  authorize(ctx.principal, "invoices.manage");
  return ctx.db.transaction(async (tx) => {
    const [before] = await tx.select().from(invoicingSettings).where(eq(invoicingSettings.id, true)).for("update");
    const [after] = await tx
      .update(invoicingSettings)
      .set({
        ...(input.agency_name !== undefined ? { agencyName: input.agency_name } : {}),
        ...(input.agency_address !== undefined ? { agencyAddress: input.agency_address } : {}),
        ...(input.agency_email !== undefined ? { agencyEmail: input.agency_email } : {}),
        ...(input.invoice_prefix !== undefined ? { invoicePrefix: input.invoice_prefix } : {}),
        ...(input.payment_terms_days !== undefined ? { paymentTermsDays: input.payment_terms_days } : {}),
        ...(input.auto_finalize_after_days !== undefined ? { autoFinalizeAfterDays: input.auto_finalize_after_days } : {}),
        updatedAt: new Date(),
      })
      .where(eq(invoicingSettings.id, true))
      .returning();
    const { updated_at: _b, ...b } = settingsOutput(before!);
    const { updated_at: _a, ...a } = settingsOutput(after!);
    await audit.recordChange(tx, ctx, { action: "invoicing.settings_update", orgId: null, targetType: "invoicing_settings", targetId: null, before: b, after: a });
    return settingsOutput(after!);
  });
}

async function markupOf(db: DbOrTx, orgId: string): Promise<string | null> {
  const [row] = await db.select({ pct: orgInvoicing.usageMarkupPct }).from(orgInvoicing).where(eq(orgInvoicing.orgId, orgId));
  return row?.pct ?? null;
}

/** An organization's invoicing settings: its usage markup (null = usage not billed). */
export async function orgSettingsGet({ ctx, input }: { ctx: Ctx; input: { id: string } }) {
  authorize(ctx.principal, "billing.read");
  const org = await findOrg(ctx.db, ctx, input.id);
  return { organization_id: org.id, usage_markup_pct: await markupOf(ctx.db, org.id) };
}

/** Sets an organization's usage markup. It applies to every invoice not yet finalized; finalized ones keep theirs. */
export async function orgSettingsPut({ ctx, input }: { ctx: Ctx; input: z.infer<typeof orgInvoicingInput> }) {
  authorize(ctx.principal, "invoices.manage");
  return ctx.db.transaction(async (tx) => {
    const org = await findOrg(tx, ctx, input.id, "update");
    if (org.isInternal && input.usage_markup_pct !== null) throw new AppError("CONFLICT", "The internal organization bills nothing", { errors: [{ path: "usage_markup_pct", message: "must be null for the internal organization" }] });
    const before = await markupOf(tx, org.id);
    const pct = input.usage_markup_pct === null ? null : round(dec(input.usage_markup_pct), 2);
    await tx
      .insert(orgInvoicing)
      .values({ orgId: org.id, usageMarkupPct: pct })
      .onConflictDoUpdate({ target: orgInvoicing.orgId, set: { usageMarkupPct: pct, updatedAt: new Date() } });
    await audit.recordChange(tx, ctx, {
      action: "organization.invoicing_update",
      orgId: org.id,
      targetType: "organization",
      targetId: org.id,
      before: { usage_markup_pct: before },
      after: { usage_markup_pct: pct },
    });
    // Usage charges are revenue: margin-floor allowances move with the markup.
    await evaluations.queueForRevenue(tx, [org.id], new Date());
    return { organization_id: org.id, usage_markup_pct: pct };
  });
}

// ---------------------------------------------------------------------------------------------
// Stored (finalized and void) invoices.

type InvoiceRow = typeof invoices.$inferSelect;
type LineRow = typeof invoiceLines.$inferSelect;

interface ClientBlock {
  name: string;
  slug: string;
  contact_name: string | null;
  contact_email: string | null;
}
interface AgencyBlock {
  name: string;
  address: string;
  email: string | null;
}

const monthKey = (month: string) => `${month}-01`;

function lineOutput(l: LineRow): InvoiceLine {
  return {
    kind: l.kind as InvoiceLine["kind"],
    description: l.description,
    agent_id: l.agentId,
    model: l.model,
    quantity: l.quantity,
    unit_amount: l.unitAmount,
    amount: l.amount,
    adjusts_month: l.adjustsMonth ? l.adjustsMonth.slice(0, 7) : null,
  };
}

function storedOutput(row: InvoiceRow, lines: LineRow[]): Invoice {
  const client = row.client as ClientBlock;
  return {
    id: row.id,
    number: row.number,
    organization_id: row.orgId,
    organization_name: client.name,
    month: row.month.slice(0, 7),
    currency: row.currency,
    status: row.status as "finalized" | "void",
    is_partial: false,
    lines: [...lines].sort((a, b) => a.position - b.position).map(lineOutput),
    subtotal: row.subtotal,
    total: row.total,
    issued_at: row.issuedAt.toISOString(),
    due_at: row.dueAt.toISOString(),
    finalized_at: row.finalizedAt.toISOString(),
    voided_at: row.voidedAt?.toISOString() ?? null,
    void_reason: row.voidReason,
    client,
    agency: row.agency as AgencyBlock,
  };
}

async function withLines(db: DbOrTx, list: InvoiceRow[]): Promise<Invoice[]> {
  if (list.length === 0) return [];
  const lines = await db.select().from(invoiceLines).where(inArray(invoiceLines.invoiceId, list.map((i) => i.id)));
  const by = new Map<string, LineRow[]>();
  for (const l of lines) by.set(l.invoiceId, [...(by.get(l.invoiceId) ?? []), l]);
  return list.map((i) => storedOutput(i, by.get(i.id) ?? []));
}

// ---------------------------------------------------------------------------------------------
// Drafts: computed from the histories, the usage rollups, the FX rates and what is already billed.

/** Everything the drafts of one organization are computed from. */
interface Basis {
  org: OrgRow;
  markup: string | null;
  /** Month → model → exact USD cost. */
  costs: Map<string, Map<string, string>>;
  fx: { effectiveFrom: string; rate: string }[];
  /** Finalized (not void) invoices, by month, with their lines. */
  finalized: Map<string, Invoice>;
  /** The markup each finalized month billed its usage at (null = usage not billed then). */
  markups: Map<string, string | null>;
}

async function loadBasis(db: DbOrTx, org: OrgRow): Promise<Basis> {
  const r = usageMonthTotals;
  const [costRows, fxRows, markup, stored] = await Promise.all([
    rows<{ model: string; month: string; cost: string }>(
      db,
      sql`select ${r.model} as model, to_char(${r.month}, 'YYYY-MM') as month, sum(${r.costUsd})::text as cost
          from ${r} where ${r.orgId} = ${org.id}::uuid group by 1, 2`,
    ),
    db.select({ effectiveFrom: fxRates.effectiveFrom, rate: fxRates.rate }).from(fxRates).where(eq(fxRates.currency, org.currency)),
    markupOf(db, org.id),
    db.select().from(invoices).where(and(eq(invoices.orgId, org.id), eq(invoices.status, "finalized"))),
  ]);
  const costs = new Map<string, Map<string, string>>();
  for (const c of costRows) {
    const m = costs.get(c.month) ?? new Map<string, string>();
    m.set(c.model, c.cost);
    costs.set(c.month, m);
  }
  const finalized = new Map((await withLines(db, stored)).map((i) => [i.month, i]));
  const markups = new Map(stored.map((i) => [i.month.slice(0, 7), i.usageMarkupPct]));
  return { org, markup, costs, fx: fxRows.map((f) => ({ effectiveFrom: String(f.effectiveFrom), rate: f.rate })), finalized, markups };
}

const fxOf = (basis: Basis, month: string) => fxForMonth(basis.org.currency, monthEnd(month).toISOString().slice(0, 10), basis.fx);

/** The usage charges of a month at `markup`, computed as the billing summary computes them. Null when an FX rate is missing. */
function usageCharges(basis: Basis, month: string, markup: string | null): UsageCharge[] | null {
  return chargesOf(basis.costs.get(month), fxOf(basis, month), markup);
}

/** What has been billed for `month`'s usage per model: its invoice's usage lines plus every adjustment of it on finalized invoices. */
function billedUsage(basis: Basis, month: string): Map<string, Ratio> {
  const billed = new Map<string, Ratio>();
  const plus = (model: string, amount: string) => billed.set(model, add(billed.get(model) ?? dec(0), dec(amount)));
  for (const l of basis.finalized.get(month)?.lines ?? []) if (l.kind === "usage") plus(l.model!, l.amount);
  for (const inv of basis.finalized.values()) for (const l of inv.lines) if (l.kind === "adjustment" && l.adjusts_month === month) plus(l.model!, l.amount);
  return billed;
}

function adjustmentLine(description: string, model: string, amount: Ratio, month: string): InvoiceLine {
  const value = round(amount, 2);
  return { kind: "adjustment", description, agent_id: null, model, quantity: "1.00", unit_amount: value, amount: value, adjusts_month: month };
}

/**
 * The adjustment lines a draft of `month` carries: for every earlier finalized month that billed
 * usage and whose next non-finalized month is this one, the change of its usage charge since it was
 * billed; and, when this month was voided after adjustments of it were billed elsewhere, those
 * adjustments taken back (its usage lines bill the whole charge again).
 */
function adjustments(basis: Basis, month: string): InvoiceLine[] | null {
  const out: InvoiceLine[] = [];
  const earlier = [...basis.finalized.values()].filter((i) => i.month < month).sort((a, b) => (a.month < b.month ? -1 : 1));
  for (const closed of earlier) {
    // The adjustment belongs to the first month after the closed one that is not finalized.
    let next = addMonths(closed.month, 1);
    while (basis.finalized.has(next)) next = addMonths(next, 1);
    if (next !== month) continue;
    const markup = basis.markups.get(closed.month) ?? null;
    if (markup === null) continue;
    const now = usageCharges(basis, closed.month, markup);
    if (now === null) return null;
    const billed = billedUsage(basis, closed.month);
    const models = [...new Set([...now.map((c) => c.model), ...billed.keys()])].sort();
    for (const model of models) {
      const delta = sub(dec(now.find((c) => c.model === model)?.amount ?? "0"), billed.get(model) ?? dec(0));
      if (!isZero(dec(round(delta, 2)))) out.push(adjustmentLine(`Usage for ${closed.month} reported after ${closed.number} — ${model}`, model, delta, closed.month));
    }
  }
  if (basis.markup !== null) {
    const elsewhere = new Map<string, { amount: Ratio; numbers: Set<string> }>();
    for (const inv of basis.finalized.values()) {
      for (const l of inv.lines) {
        if (l.kind !== "adjustment" || l.adjusts_month !== month) continue;
        const e = elsewhere.get(l.model!) ?? { amount: dec(0), numbers: new Set<string>() };
        e.amount = add(e.amount, dec(l.amount));
        e.numbers.add(inv.number!);
        elsewhere.set(l.model!, e);
      }
    }
    for (const [model, e] of [...elsewhere].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!isZero(e.amount)) out.push(adjustmentLine(`Usage for ${month} already billed on ${[...e.numbers].sort().join(", ")} — ${model}`, model, sub(dec(0), e.amount), month));
    }
  }
  return out;
}

const seatDescription = (name: string) => `Agent seat: ${name}`;

/** The draft of one month from its agent-month lines and the basis. Null usage means a missing FX rate. */
function draftOf(basis: Basis, settings: Settings, month: string, seatLines: Line[], now: Date): { invoice: Invoice; missingFx: boolean } {
  const lines: InvoiceLine[] = [];
  for (const l of seatLines) {
    if (isZero(dec(l.seat_revenue))) continue;
    lines.push({ kind: "seat", description: seatDescription(l.agent_name), agent_id: l.agent_id, model: null, quantity: round(dec(String(l.billed_days)), 2), unit_amount: l.rate, amount: l.seat_revenue, adjusts_month: null });
  }
  const usage = usageCharges(basis, month, basis.markup);
  for (const c of usage ?? []) lines.push({ kind: "usage", description: `Token usage: ${c.model}`, agent_id: null, model: c.model, quantity: "1.00", unit_amount: c.amount, amount: c.amount, adjusts_month: null });
  const adj = adjustments(basis, month);
  lines.push(...(adj ?? []));
  const total = round(sum(lines.map((l) => dec(l.amount))), 2);
  return {
    missingFx: usage === null || adj === null,
    invoice: {
      id: null,
      number: null,
      organization_id: basis.org.id,
      organization_name: basis.org.name,
      month,
      currency: basis.org.currency,
      status: "draft",
      is_partial: now < monthEnd(month),
      lines,
      subtotal: total,
      total,
      issued_at: null,
      due_at: null,
      finalized_at: null,
      voided_at: null,
      void_reason: null,
      client: clientOf(basis.org),
      agency: agencyOf(settings),
    },
  };
}

const clientOf = (org: OrgRow): ClientBlock => ({ name: org.name, slug: org.slug, contact_name: org.contactName, contact_email: org.contactEmail });
const agencyOf = (s: Settings): AgencyBlock => ({ name: s.agencyName, address: s.agencyAddress, email: s.agencyEmail });

const orgInfo = (org: OrgRow): billing.OrgInfo => ({
  id: org.id,
  name: org.name,
  slug: org.slug,
  currency: org.currency,
  is_active: org.isActive,
  is_internal: org.isInternal,
  is_deleted: org.deletedAt !== null,
});

/** Drafts of `months` (ascending) of one organization, from one load. */
async function drafts(db: DbOrTx, org: OrgRow, months: string[], now: Date) {
  const [basis, settings, lines] = await Promise.all([
    loadBasis(db, org),
    loadSettings(db),
    billing.linesOf(db, orgInfo(org), { from: months[0]!, to: months.at(-1)!, months }, now),
  ]);
  return months.map((month) => ({ month, ...draftOf(basis, settings, month, lines.filter((l) => l.month === month), now) }));
}

// ---------------------------------------------------------------------------------------------
// Use cases.

/** Stored invoices (finalized and void) across the organizations the caller may see, newest number first. */
export async function list({ ctx, input }: { ctx: Ctx; input: z.infer<typeof invoiceListFields> }) {
  authorize(ctx.principal, "billing.read");
  const tenant = tenantOrgId(ctx.principal);
  const orgId = input.org ? (await findOrg(ctx.db, ctx, input.org)).id : null;
  const [after] = input.cursor ? (decodeCursor(input.cursor, ["number"]) as [number]) : [];
  const page = await ctx.db
    .select()
    .from(invoices)
    .where(
      and(
        tenant ? eq(invoices.orgId, tenant) : undefined,
        orgId ? eq(invoices.orgId, orgId) : undefined,
        input.status ? eq(invoices.status, input.status) : undefined,
        input.month ? eq(invoices.month, monthKey(input.month)) : undefined,
        after !== undefined ? lt(invoices.sequence, after) : undefined,
      ),
    )
    .orderBy(desc(invoices.sequence))
    .limit(input.limit + 1);
  const shown = page.slice(0, input.limit);
  return {
    invoices: await withLines(ctx.db, shown),
    next_cursor: page.length > input.limit ? encodeCursor([shown.at(-1)!.sequence]) : null,
  };
}

/**
 * Every month of one organization that has something to invoice, newest first: its finalized
 * invoice, else its live draft; void invoices are listed too.
 */
export async function orgList({ ctx, input }: { ctx: Ctx; input: { id: string } }) {
  authorize(ctx.principal, "billing.read");
  const org = await findOrg(ctx.db, ctx, input.id);
  const now = new Date();
  const current = monthOf(now);
  let from = monthOf(org.createdAt);
  if (monthsBetween(from, current).length > MAX_LISTED_MONTHS) from = addMonths(current, -(MAX_LISTED_MONTHS - 1));
  const months = from <= current ? monthsBetween(from, current) : [current];
  const [computed, stored] = await Promise.all([
    drafts(ctx.db, org, months, now),
    ctx.db.select().from(invoices).where(eq(invoices.orgId, org.id)).orderBy(desc(invoices.month), desc(invoices.sequence)),
  ]);
  const storedOut = await withLines(ctx.db, stored);
  const out: Invoice[] = [];
  for (const { month, invoice } of [...computed].reverse()) {
    const ofMonth = storedOut.filter((i) => i.month === month);
    const fin = ofMonth.find((i) => i.status === "finalized");
    if (fin) out.push(fin);
    else if (invoice.lines.length > 0) out.push(invoice);
    out.push(...ofMonth.filter((i) => i.status === "void"));
  }
  return { organization_id: org.id, currency: org.currency, invoices: out };
}

/** The finalized invoice of an organization's month, else its live draft. */
export async function get({ ctx, input }: { ctx: Ctx; input: { id: string; month: string } }) {
  authorize(ctx.principal, "billing.read");
  const org = await findOrg(ctx.db, ctx, input.id);
  assertNotFuture(input.month);
  const [fin] = await ctx.db.select().from(invoices).where(and(eq(invoices.orgId, org.id), eq(invoices.month, monthKey(input.month)), eq(invoices.status, "finalized")));
  if (fin) return (await withLines(ctx.db, [fin]))[0]!;
  const [d] = await drafts(ctx.db, org, [input.month], new Date());
  return d!.invoice;
}

function assertNotFuture(month: string) {
  const current = monthOf(new Date());
  if (month > current) throw new AppError("VALIDATION", `month: must not be after the current month (${current})`, { errors: [{ path: "month", message: `must not be after the current month (${current})` }] });
  if (month < "2000-01") throw new AppError("VALIDATION", "month: must not be before 2000-01", { errors: [{ path: "month", message: "must not be before 2000-01" }] });
}

/** A stored invoice by number, within the caller's tenant (another tenant's number is a 404 like an unknown one). */
async function findByNumber(db: DbOrTx, ctx: Ctx, number: string, lock = false): Promise<InvoiceRow> {
  const tenant = tenantOrgId(ctx.principal);
  const query = db.select().from(invoices).where(and(eq(invoices.number, number), tenant ? eq(invoices.orgId, tenant) : undefined));
  const [row] = lock ? await query.for("update") : await query;
  if (!row) throw notFound("Invoice");
  return row;
}

/** One stored invoice (finalized or void) by its number. */
export async function getByNumber({ ctx, input }: { ctx: Ctx; input: { number: string } }) {
  authorize(ctx.principal, "billing.read");
  const row = await findByNumber(ctx.db, ctx, input.number);
  return (await withLines(ctx.db, [row]))[0]!;
}

/**
 * A stored invoice as a downloadable document: `pdf` (the same bytes on every download of a
 * finalized invoice; a void one is stamped VOID), `csv` of its lines, or `json` (the invoice as
 * `getByNumber` returns it).
 */
export async function document({ ctx, input }: { ctx: Ctx; input: { number: string; format: DocumentFormat } }) {
  authorize(ctx.principal, "billing.read");
  const row = await findByNumber(ctx.db, ctx, input.number);
  const invoice = (await withLines(ctx.db, [row]))[0]!;
  const base = `${invoice.number}${invoice.status === "void" ? "-VOID" : ""}`;
  if (input.format === "csv") return { filename: `${base}.csv`, content_type: "text/csv; charset=utf-8", content: invoiceCsv(invoice) as string | Uint8Array };
  if (input.format === "json") return { filename: `${base}.json`, content_type: "application/json", content: JSON.stringify(invoice, null, 2) as string | Uint8Array };
  return { filename: `${base}.pdf`, content_type: "application/pdf", content: (await storedPdf(ctx.db, row, invoice)) as string | Uint8Array };
}

/**
 * The invoice's PDF for its current status, rendered on its first download and stored: a stored
 * invoice never changes (voiding only adds the VOID document), so neither does its PDF, and
 * every later download serves the stored bytes. Two first downloads at once may both render;
 * the first insert wins and both callers return its bytes.
 */
async function storedPdf(db: DbOrTx, row: InvoiceRow, invoice: Invoice): Promise<Uint8Array> {
  const key = and(eq(invoiceDocuments.invoiceId, row.id), eq(invoiceDocuments.status, row.status));
  const [hit] = await db.select({ pdf: invoiceDocuments.pdf }).from(invoiceDocuments).where(key);
  if (hit) return hit.pdf;
  const pdf = new Uint8Array(await invoicePdf(invoice));
  const [stored] = await db.insert(invoiceDocuments).values({ invoiceId: row.id, status: row.status, pdf }).onConflictDoNothing().returning({ pdf: invoiceDocuments.pdf });
  if (stored) return stored.pdf;
  const [winner] = await db.select({ pdf: invoiceDocuments.pdf }).from(invoiceDocuments).where(key);
  return winner!.pdf;
}

/** The document for tRPC, which carries text only: the PDF's bytes travel as base64. */
export async function documentFile({ ctx, input }: { ctx: Ctx; input: { number: string; format: DocumentFormat } }) {
  const file = await document({ ctx, input });
  return typeof file.content === "string"
    ? { filename: file.filename, content_type: file.content_type, encoding: "utf-8" as const, content: file.content }
    : { filename: file.filename, content_type: file.content_type, encoding: "base64" as const, content: Buffer.from(file.content).toString("base64") };
}

/**
 * Finalizes an organization's ended month: freezes its draft (lines, totals, client and agency
 * blocks) under the next number of the gapless sequence. The organization row is locked first
 * (history changes into its months wait, then see the invoice and are refused); the counter row is
 * incremented last, so it is held only for the inserts, and a finalization that fails rolls its
 * number back with everything else.
 */
export async function finalize({ ctx, input }: { ctx: Ctx; input: { id: string; month: string } }): Promise<Invoice> {
  authorize(ctx.principal, "invoices.manage");
  return ctx.db.transaction(async (tx) => {
    const org = await findOrg(tx, ctx, input.id, "update");
    return finalizeIn(tx, ctx, org, input.month, new Date());
  });
}

/**
 * Finalizes one month of a locked organization. `auto` (the automatic close) skips, returning
 * null, what a person would be told about: a month already finalized, a zero draft, a missing FX rate.
 */
async function finalizeIn(tx: Tx, ctx: Ctx, org: OrgRow, month: string, now: Date): Promise<Invoice>;
async function finalizeIn(tx: Tx, ctx: Ctx, org: OrgRow, month: string, now: Date, auto: true): Promise<Invoice | null>;
async function finalizeIn(tx: Tx, ctx: Ctx, org: OrgRow, month: string, now: Date, auto = false): Promise<Invoice | null> {
  if (monthEnd(month) > now) throw new AppError("CONFLICT", `${month} has not ended yet; only a month that has ended can be finalized`);
  const [existing] = await tx.select({ number: invoices.number }).from(invoices).where(and(eq(invoices.orgId, org.id), eq(invoices.month, monthKey(month)), eq(invoices.status, "finalized")));
  if (existing && auto) return null;
  if (existing) throw new AppError("CONFLICT", `${month} is already finalized (${existing.number})`);
  const [d] = await drafts(tx, org, [month], now);
  const { invoice: draft, missingFx } = d!;
  if (auto && (missingFx || isZero(dec(draft.total)))) return null;
  if (missingFx) throw new AppError("CONFLICT", `There is no ${org.currency} FX rate for ${month}; add one before finalizing`);
  if (draft.lines.length === 0) throw new AppError("CONFLICT", `${month} has nothing to invoice`);
  const settings = await loadSettings(tx);
  const markup = await markupOf(tx, org.id);
  const [counter] = await tx
    .update(invoiceCounter)
    .set({ lastNumber: sql`${invoiceCounter.lastNumber} + 1` })
    .where(eq(invoiceCounter.id, true))
    .returning({ n: invoiceCounter.lastNumber });
  const sequence = counter!.n;
  const number = `${settings.invoicePrefix}-${now.getUTCFullYear()}-${String(sequence).padStart(5, "0")}`;
  const [row] = await tx
    .insert(invoices)
    .values({
      orgId: org.id,
      month: monthKey(month),
      sequence,
      number,
      status: "finalized",
      currency: org.currency,
      client: draft.client,
      agency: draft.agency,
      usageMarkupPct: markup,
      subtotal: draft.subtotal,
      total: draft.total,
      issuedAt: now,
      dueAt: new Date(now.getTime() + settings.paymentTermsDays * DAY_MS),
      finalizedAt: now,
    })
    .returning();
  const lineRows = await tx
    .insert(invoiceLines)
    .values(
      draft.lines.map((l, position) => ({
        invoiceId: row!.id,
        position,
        kind: l.kind,
        description: l.description,
        agentId: l.agent_id,
        model: l.model,
        quantity: l.quantity,
        unitAmount: l.unit_amount,
        amount: l.amount,
        adjustsMonth: l.adjusts_month ? monthKey(l.adjusts_month) : null,
      })),
    )
    .returning();
  const invoice = storedOutput(row!, lineRows);
  await audit.record(tx, ctx, {
    action: "invoice.finalize",
    orgId: org.id,
    targetType: "invoice",
    targetId: row!.id,
    after: { number, month, currency: org.currency, total: invoice.total, lines: invoice.lines.length },
  });
  // Sent only if this finalization commits (docs/guardrails.md, "Events"): the invoice as the API shows it.
  await events.emit(tx, "invoice.finalized", { invoice });
  return invoice;
}

/**
 * Voids a finalized invoice with a reason. Its number stays used and its document stays
 * downloadable, marked VOID; the month is open again, and finalizing it again issues a new number.
 */
async function voidInvoice({ ctx, input }: { ctx: Ctx; input: { number: string; reason: string } }): Promise<Invoice> {
  authorize(ctx.principal, "invoices.manage");
  return ctx.db.transaction(async (tx) => {
    const found = await findByNumber(tx, ctx, input.number);
    // Lock the organization before the invoice, in the order finalizing and history changes take them.
    await tx.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, found.orgId)).for("no key update");
    const row = await findByNumber(tx, ctx, input.number, true);
    if (row.status !== "finalized") throw new AppError("CONFLICT", `${row.number} is already void`);
    const [updated] = await tx.update(invoices).set({ status: "void", voidedAt: new Date(), voidReason: input.reason }).where(eq(invoices.id, row.id)).returning();
    await audit.record(tx, ctx, {
      action: "invoice.void",
      orgId: row.orgId,
      targetType: "invoice",
      targetId: row.id,
      before: { number: row.number, status: "finalized" },
      after: { number: row.number, status: "void", reason: input.reason },
    });
    const invoice = (await withLines(tx, [updated!]))[0]!;
    await events.emit(tx, "invoice.voided", { invoice });
    return invoice;
  });
}
export { voidInvoice as void };

/**
 * The automatic close: finalizes every month of every organization that ended at least
 * `auto_finalize_after_days` days ago, is not finalized and has a non-zero draft. Each
 * finalization is its own transaction behind the organization's lock, so two instances running it
 * at once finalize each month once (the second sees the invoice and skips it). Returns the numbers issued.
 */
export async function autoClose(ctx: Ctx, now = new Date()): Promise<string[]> {
  const settings = await loadSettings(ctx.db);
  if (settings.autoFinalizeAfterDays === null) return [];
  // The latest month that ended at least the grace period ago.
  const cutoff = new Date(now.getTime() - settings.autoFinalizeAfterDays * DAY_MS);
  let last = monthOf(cutoff);
  if (monthEnd(last) > cutoff) last = addMonths(last, -1);
  const orgs = await ctx.db.select().from(organizations).where(and(isNull(organizations.deletedAt), eq(organizations.isInternal, false))).orderBy(asc(organizations.id));
  const issued: string[] = [];
  for (const org of orgs) {
    let from = monthOf(org.createdAt);
    if (from > last) continue;
    if (monthsBetween(from, last).length > MAX_LISTED_MONTHS) from = addMonths(last, -(MAX_LISTED_MONTHS - 1));
    const months = monthsBetween(from, last);
    const closed = new Set(
      (await ctx.db.select({ month: invoices.month }).from(invoices).where(and(eq(invoices.orgId, org.id), eq(invoices.status, "finalized")))).map((r) => r.month.slice(0, 7)),
    );
    const open = months.filter((m) => !closed.has(m));
    if (open.length === 0) continue;
    const candidates = (await drafts(ctx.db, org, open, now)).filter((d) => !d.missingFx && !isZero(dec(d.invoice.total)));
    for (const c of candidates) {
      const number = await ctx.db.transaction(async (tx) => {
        const [locked] = await tx.select().from(organizations).where(eq(organizations.id, org.id)).for("no key update");
        if (!locked || locked.deletedAt) return null;
        return (await finalizeIn(tx, ctx, locked, c.month, now, true))?.number ?? null;
      });
      if (number) issued.push(number);
    }
  }
  return issued;
}
