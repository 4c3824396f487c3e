import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type PDFKit from "pdfkit";
import { csvField } from "../billing/lines";
import type { Invoice } from "./schema";

/**
 * Invoice documents (docs/billing.md, "Documents"): CSV of the lines and a PDF drawn on the server
 * with pdfkit (docs/decisions.md). The PDF embeds DejaVu Sans, which has every currency symbol
 * Orgdesk bills in (₦ included), and is made only from the invoice's stored fields with fixed
 * metadata, so a finalized invoice's PDF is the same bytes on every download. Pure: no database.
 */

const require = createRequire(import.meta.url);

/**
 * pdfkit and the two fonts, loaded on the first PDF and kept for the process: pdfkit brings its
 * standard fonts' metrics along and adds about 30 MB of resident memory, which an instance that
 * never draws an invoice should not carry (docs/scaling.md, "Memory"). pdfkit subsets the fonts
 * into each document.
 */
let pdfKit: Promise<{ PDFDocument: typeof PDFKit; font: Buffer; bold: Buffer }> | undefined;
function loadPdfKit() {
  pdfKit ??= import("pdfkit").then(({ default: PDFDocument }) => ({
    PDFDocument,
    font: readFileSync(require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf")),
    bold: readFileSync(require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf")),
  }));
  // A failed load (a file briefly unreadable) is not kept: the next PDF tries again.
  pdfKit.catch(() => (pdfKit = undefined));
  return pdfKit;
}

/** Currencies whose narrow symbol is unambiguous; CAD and AUD keep theirs distinct from USD ("CA$", "A$"). */
const NARROW = new Set(["USD", "EUR", "GBP", "NGN"]);

/**
 * An amount formatted for its currency ("₦54,509.70", "-€3.10", "CA$12.00"). The symbol and its
 * place come from `Intl.NumberFormat`; the digits come from the decimal string itself, so the
 * amount never passes through a binary float.
 */
export function formatMoney(amount: string, currency: string): string {
  const parts = new Intl.NumberFormat("en", { style: "currency", currency, currencyDisplay: NARROW.has(currency) ? "narrowSymbol" : "symbol" }).formatToParts(0);
  const symbol = parts.find((p) => p.type === "currency")?.value ?? currency;
  const symbolFirst = parts.findIndex((p) => p.type === "currency") < parts.findIndex((p) => p.type === "integer");
  const negative = amount.startsWith("-");
  const [whole = "0", frac = ""] = amount.replace(/^-/, "").split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const digits = `${grouped}.${frac.padEnd(2, "0").slice(0, 2)}`;
  const body = symbolFirst ? `${symbol}${digits}` : `${digits} ${symbol}`;
  return negative ? `-${body}` : body;
}

const CSV_COLUMNS = ["kind", "description", "agent_id", "model", "quantity", "unit_amount", "amount", "adjusts_month"] as const;

/** The invoice's lines as CSV (RFC 4180, CRLF), one row per line, in document order. */
export function invoiceCsv(invoice: Invoice): string {
  const out = [CSV_COLUMNS.join(",")];
  for (const l of invoice.lines) out.push(CSV_COLUMNS.map((c) => csvField(l[c])).join(","));
  return out.join("\r\n") + "\r\n";
}

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : "—");

/** The PDF of an invoice (a draft is marked DRAFT, a void one VOID). */
export async function invoicePdf(invoice: Invoice): Promise<Buffer> {
  const { PDFDocument, font, bold } = await loadPdfKit();
  const fixed = new Date(invoice.finalized_at ?? "2000-01-01T00:00:00.000Z");
  const doc = new PDFDocument({
    size: "A4",
    margin: 50,
    info: { Title: `Invoice ${invoice.number ?? `draft ${invoice.month}`}`, Author: invoice.agency.name, Producer: "Orgdesk", Creator: "Orgdesk", CreationDate: fixed, ModDate: fixed },
  });
  const chunks: Buffer[] = [];
  doc.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
  doc.registerFont("body", font);
  doc.registerFont("bold", bold);
  const money = (v: string) => formatMoney(v, invoice.currency);
  if (invoice.status === "void") {
    // The stamp across the first page, under everything else.
    doc.save();
    doc.rotate(-30, { origin: [doc.page.width / 2, doc.page.height / 2] });
    doc.font("bold").fontSize(110).fillColor("#dc2626").fillOpacity(0.18).text("VOID", 0, doc.page.height / 2 - 60, { width: doc.page.width, align: "center", lineBreak: false });
    doc.restore();
    doc.fillOpacity(1);
  }
  const left = 50;
  const width = doc.page.width - 100;

  // Agency header.
  doc.font("bold").fontSize(16).fillColor("#111827").text(invoice.agency.name, left, 50);
  doc.font("body").fontSize(9).fillColor("#4b5563");
  if (invoice.agency.address) doc.text(invoice.agency.address);
  if (invoice.agency.email) doc.text(invoice.agency.email);

  // Title and number.
  const title = invoice.status === "draft" ? "DRAFT INVOICE" : "INVOICE";
  doc.font("bold").fontSize(20).fillColor("#111827").text(title, left, 50, { width, align: "right" });
  doc.font("body").fontSize(10).fillColor("#111827");
  doc.text(invoice.number ?? "Not numbered until finalized", left, doc.y, { width, align: "right" });
  doc.text(`Period: ${invoice.month}`, { width, align: "right" });
  doc.text(`Issued: ${day(invoice.issued_at)}`, { width, align: "right" });
  doc.text(`Due: ${day(invoice.due_at)}`, { width, align: "right" });

  // Client block.
  doc.moveDown(2);
  const clientTop = Math.max(doc.y, 150);
  doc.font("bold").fontSize(9).fillColor("#6b7280").text("BILL TO", left, clientTop);
  doc.font("bold").fontSize(11).fillColor("#111827").text(invoice.client.name);
  doc.font("body").fontSize(9).fillColor("#374151");
  if (invoice.client.contact_name) doc.text(invoice.client.contact_name);
  if (invoice.client.contact_email) doc.text(invoice.client.contact_email);
  doc.text(`Currency: ${invoice.currency}`);

  // Lines.
  const cols = { desc: left, qty: left + 290, unit: left + 345, amount: left + 420 };
  const colW = { desc: 280, qty: 50, unit: 70, amount: width - 420 };
  let y = doc.y + 24;
  const header = (at: number) => {
    doc.font("bold").fontSize(9).fillColor("#6b7280");
    doc.text("Description", cols.desc, at, { width: colW.desc });
    doc.text("Qty", cols.qty, at, { width: colW.qty, align: "right" });
    doc.text("Unit", cols.unit, at, { width: colW.unit, align: "right" });
    doc.text("Amount", cols.amount, at, { width: colW.amount, align: "right" });
    doc.moveTo(left, at + 14).lineTo(left + width, at + 14).strokeColor("#d1d5db").lineWidth(0.5).stroke();
    return at + 20;
  };
  y = header(y);
  doc.font("body").fontSize(9).fillColor("#111827");
  for (const line of invoice.lines) {
    const h = Math.max(doc.heightOfString(line.description, { width: colW.desc }), 12);
    if (y + h > doc.page.height - 120) {
      doc.addPage();
      y = header(50);
      doc.font("body").fontSize(9).fillColor("#111827");
    }
    doc.text(line.description, cols.desc, y, { width: colW.desc });
    doc.text(line.quantity, cols.qty, y, { width: colW.qty, align: "right" });
    doc.text(money(line.unit_amount), cols.unit, y, { width: colW.unit, align: "right" });
    doc.text(money(line.amount), cols.amount, y, { width: colW.amount, align: "right" });
    y += h + 6;
  }
  if (invoice.lines.length === 0) {
    doc.fillColor("#6b7280").text("Nothing to invoice for this month.", cols.desc, y);
    y += 18;
  }

  // Totals.
  doc.moveTo(cols.unit, y + 2).lineTo(left + width, y + 2).strokeColor("#9ca3af").lineWidth(0.5).stroke();
  y += 8;
  doc.font("body").fontSize(10).fillColor("#111827");
  doc.text("Subtotal", cols.unit - 60, y, { width: 130, align: "right" });
  doc.text(money(invoice.subtotal), cols.amount, y, { width: colW.amount, align: "right" });
  y += 16;
  doc.font("bold").fontSize(11);
  doc.text("Total", cols.unit - 60, y, { width: 130, align: "right" });
  doc.text(money(invoice.total), cols.amount, y, { width: colW.amount, align: "right" });
  y += 24;
  doc.font("body").fontSize(8).fillColor("#6b7280").text("Amounts are net; no tax is included.", left, y, { width });

  if (invoice.status === "void") {
    doc.font("bold").fontSize(9).fillColor("#b91c1c").text(`VOID since ${day(invoice.voided_at)}: ${invoice.void_reason ?? ""}`, left, y + 14, { width });
  }
  doc.end();
  return done;
}
