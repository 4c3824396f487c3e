import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { makeKey, trpc } from "../support/access";
import { parseCsv } from "../support/csv";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

/**
 * Invoices over HTTP: finalize, the closed month's 409 on both transports, void and re-issue, and
 * the documents (JSON, CSV, PDF read back with poppler's pdftotext).
 */
const database = await testDatabase();
const { base, api } = startTestServer(database);
const dir = mkdtempSync(join(tmpdir(), "orgdesk-invoices-"));
const MAY = "2025-05-01T00:00:00Z";

async function pdfText(bytes: ArrayBuffer, name: string): Promise<string> {
  const file = join(dir, `${name}.pdf`);
  writeFileSync(file, new Uint8Array(bytes));
  const proc = Bun.spawn(["pdftotext", "-layout", file, "-"], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  return text;
}

const pdf = async (number: string) => {
  const res = await fetch(`${base}/api/invoices/${number}/pdf`, { headers: { "x-api-key": "test-admin-key" } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/pdf");
  expect(res.headers.get("content-disposition")).toContain(`${number}`);
  return res.arrayBuffer();
};

describe("invoices over REST and tRPC", () => {
  test("an NGN invoice: finalize, documents, closed month, void and re-issue", async () => {
    const org = (await api.post("/api/organizations", { name: "Lagos Logistics Ltd", currency: "NGN", billing_rate_per_agent: "50000.00", contact_name: "Ada Obi", contact_email: "ada@lagos.example", created_at: MAY })).body;
    const agent = (await api.post("/api/agents", { name: "Dispatch Bot", org_id: org.id, created_at: MAY })).body;
    expect((await api.put(`/api/organizations/${org.slug}/invoicing`, { usage_markup_pct: 20 })).body).toEqual({ organization_id: org.id, usage_markup_pct: "20.00" });
    expect((await api.put("/api/fx-rates", { rates: [{ currency: "NGN", effective_from: "2025-06-01", rate: "1550.5" }] })).status).toBe(200);
    expect((await api.put("/api/settings/invoicing", { agency_name: "Northwind Agents", agency_address: "1 Harbour Road, Lagos", agency_email: "billing@northwind.example" })).status).toBe(200);
    const usage = await api.post("/api/usage", { events: [{ id: "ngn-1", agent_id: agent.id, model: "gpt-4o", input_tokens: 10, output_tokens: 5, cost_usd: "2.000000", occurred_at: "2025-06-12T08:00:00Z" }] });
    expect(usage.body.accepted).toBe(1);

    // The draft is live and has no number; the current month cannot be finalized.
    const draft = (await api.get(`/api/organizations/${org.slug}/invoices/2025-06`)).body;
    expect(draft).toMatchObject({ status: "draft", number: null, total: "53721.20" });
    const current = new Date().toISOString().slice(0, 7);
    const early = await api.post(`/api/organizations/${org.id}/invoices/${current}/finalize`);
    expect(early.status).toBe(409);

    // 50000.00 seat + 2.00 × 1550.5 × 1.20 = 3721.20 usage.
    const fin = await api.post(`/api/organizations/${org.id}/invoices/2025-06/finalize`);
    expect(fin.status).toBe(201);
    const inv = fin.body;
    expect(inv).toMatchObject({ status: "finalized", total: "53721.20", currency: "NGN", organization_name: "Lagos Logistics Ltd" });
    expect((await api.post(`/api/organizations/${org.id}/invoices/2025-06/finalize`)).status).toBe(409);
    expect((await api.get(`/api/invoices/${inv.number}`)).body).toEqual(inv);
    expect((await api.get(`/api/invoices?org=${org.slug}&status=finalized`)).body.invoices.map((i: any) => i.number)).toEqual([inv.number]);

    // A staff change into June: 409 period_closed naming the month, the invoice and the earliest time allowed, on both transports.
    const closed = await api.patch(`/api/organizations/${org.id}`, { billing_rate_per_agent: "60000.00", effective_at: "2025-06-15T00:00:00Z" });
    expect(closed.status).toBe(409);
    expect(closed.headers.get("content-type")).toContain("application/problem+json");
    expect(closed.body).toMatchObject({ code: "period_closed", status: 409, period: { month: "2025-06", invoice_number: inv.number, earliest_allowed: "2025-07-01T00:00:00.000Z" } });
    expect(closed.body.detail).toContain(inv.number);
    const viaTrpc = await trpc(base, { key: "test-admin-key" }, "mutation", "agents.update", { id: agent.id, status: "archived", effective_at: "2025-06-20T00:00:00Z" });
    expect(viaTrpc.status).toBe(409);
    expect(viaTrpc.body.data.problem).toMatchObject({ code: "period_closed", period: { month: "2025-06", invoice_number: inv.number } });
    expect((await api.get(`/api/organizations/${org.id}`)).body.billing_rate_per_agent).toBe("50000.00");

    // Documents: CSV of the lines; a PDF with the number, client, lines and totals in naira, the same bytes each time.
    const csv = await fetch(`${base}/api/invoices/${inv.number}/csv`, { headers: { "x-api-key": "test-admin-key" } });
    expect(csv.headers.get("content-type")).toContain("text/csv");
    expect(parseCsv(await csv.text())).toEqual([
      ["kind", "description", "agent_id", "model", "quantity", "unit_amount", "amount", "adjusts_month"],
      ["seat", "Agent seat: Dispatch Bot", agent.id, "", "30.00", "50000.00", "50000.00", ""],
      ["usage", "Token usage: gpt-4o", "", "gpt-4o", "1.00", "3721.20", "3721.20", ""],
    ]);
    const first = await pdf(inv.number);
    // A later change of what June's usage costs never touches its document.
    await api.put("/api/fx-rates", { rates: [{ currency: "NGN", effective_from: "2025-06-20", rate: "1600" }] });
    const second = await pdf(inv.number);
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(true);
    // …because the first download stored it, and tRPC's twin serves the same bytes as base64.
    const storedPdf = await rows<{ hex: string }>(database.db, sql`select encode(pdf, 'hex') as hex from invoice_documents where invoice_id = ${inv.id}::uuid and status = 'finalized'`);
    expect(storedPdf.map((r) => r.hex)).toEqual([Buffer.from(first).toString("hex")]);
    const twin = await trpc(base, { key: "test-admin-key" }, "query", "invoices.document", { number: inv.number, format: "pdf" });
    expect(twin.body).toMatchObject({ filename: `${inv.number}.pdf`, content_type: "application/pdf", encoding: "base64" });
    expect(Buffer.from(twin.body.content, "base64").equals(Buffer.from(first))).toBe(true);
    const csvTwin = await trpc(base, { key: "test-admin-key" }, "query", "invoices.document", { number: inv.number, format: "csv" });
    expect(parseCsv(csvTwin.body.content)[2]).toEqual(["usage", "Token usage: gpt-4o", "", "gpt-4o", "1.00", "3721.20", "3721.20", ""]);
    expect((await trpc(base, { key: "test-admin-key" }, "query", "invoices.document", { number: inv.number, format: "xml" })).status).toBe(400);
    const text = await pdfText(first, "finalized");
    for (const expected of [inv.number, "Northwind Agents", "Lagos Logistics Ltd", "Ada Obi", "Agent seat: Dispatch Bot", "Token usage: gpt-4o", "₦50,000.00", "₦3,721.20", "₦53,721.20", "2025-06"]) {
      expect({ expected, found: text.includes(expected) }).toEqual({ expected, found: true });
    }
    expect(text).not.toContain("VOID");
    expect(text).not.toMatch(/cost|margin/i);

    // Void with a reason: the PDF says VOID; the month opens again; re-issuing takes a new number.
    expect((await api.post(`/api/invoices/${inv.number}/void`, {})).status).toBe(400);
    const voided = await api.post(`/api/invoices/${inv.number}/void`, { reason: "Wrong FX rate" });
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: "void", void_reason: "Wrong FX rate", lines: inv.lines, total: inv.total });
    const voidPdf = await pdf(inv.number);
    const voidText = await pdfText(voidPdf, "void");
    expect(voidText).toContain("VOID");
    expect(voidText).toContain("Wrong FX rate");
    expect(voidText).toContain(inv.number);
    // 50000.00 + 2.00 × 1600 × 1.20 = 53840.00 at the corrected rate.
    const again = await api.post(`/api/organizations/${org.id}/invoices/2025-06/finalize`);
    expect(again.status).toBe(201);
    expect(again.body.total).toBe("53840.00");
    expect(Number(again.body.number.split("-").at(-1))).toBeGreaterThan(Number(inv.number.split("-").at(-1)));
    const listed = (await api.get(`/api/organizations/${org.id}/invoices`)).body.invoices.filter((i: any) => i.month === "2025-06");
    expect(listed.map((i: any) => i.status)).toEqual(["finalized", "void"]);

    // A client's own read key sees its invoice and its PDF, nothing of another organization.
    const own = await makeKey(database, "read", org.id);
    const ownRes = await fetch(`${base}/api/invoices/${again.body.number}/pdf`, { headers: { "x-api-key": own.key } });
    expect(ownRes.status).toBe(200);
    const otherOrg = (await api.post("/api/organizations", { name: "Other Client", created_at: MAY })).body;
    await api.post("/api/agents", { name: "Other Bot", org_id: otherOrg.id, created_at: MAY });
    await api.patch(`/api/organizations/${otherOrg.id}`, { billing_rate_per_agent: "10.00", effective_at: MAY });
    const otherInv = (await api.post(`/api/organizations/${otherOrg.id}/invoices/2025-06/finalize`)).body;
    const foreign = await fetch(`${base}/api/invoices/${otherInv.number}/pdf`, { headers: { "x-api-key": own.key } });
    expect(foreign.status).toBe(404);
    const ownList = await fetch(`${base}/api/invoices`, { headers: { "x-api-key": own.key } }).then((r) => r.json());
    expect(new Set(ownList.invoices.map((i: any) => i.organization_id))).toEqual(new Set([org.id]));
    expect((await fetch(`${base}/api/organizations/${org.id}/invoices/2025-07/finalize`, { method: "POST", headers: { "x-api-key": own.key } })).status).toBe(403);

    // Rendered for the docs (INVOICE_SCREENSHOT=docs/screenshots/invoice-pdf): the finalized NGN invoice and its void stamp.
    const shot = process.env.INVOICE_SCREENSHOT;
    if (shot) {
      for (const [bytes, suffix] of [[first, ""], [voidPdf, "-void"]] as const) {
        writeFileSync(join(dir, `shot${suffix}.pdf`), new Uint8Array(bytes));
        const proc = Bun.spawn(["pdftoppm", "-png", "-r", "90", "-singlefile", join(dir, `shot${suffix}.pdf`), `${shot}${suffix}`]);
        expect(await proc.exited).toBe(0);
      }
    }
  });
});
