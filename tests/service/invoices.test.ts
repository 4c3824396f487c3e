import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { AppError } from "../../server/errors";
import { agentCreateInput, agentUnassignInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import { invoicingSettingsFields, orgInvoicingInput } from "../../server/modules/invoices/schema";
import * as invoices from "../../server/modules/invoices/service";
import { repriceInput } from "../../server/modules/usage/schema";
import * as usage from "../../server/modules/usage/service";
import { ctxFor, user } from "../support/actors";
import { event, ingest, moveAgent, putFx, putPrice, setAgentRate, setAgentStatus, setOrgActive, setOrgRate } from "../support/billing";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";

// Hand-computed invoices (docs/billing.md, "Month close and invoices", has the same numbers).
// June 2025 has 30 days; every month here has ended long before the tests run.
const database = await testDatabase({ max: 20 });
const ctx = ctxFor(database);
const MAY = "2025-05-01T00:00:00Z";

const setMarkup = (orgId: string, pct: string | null) => invoices.orgSettingsPut({ ctx, input: orgInvoicingInput.parse({ id: orgId, usage_markup_pct: pct }) });
const finalize = (orgId: string, month: string) => invoices.finalize({ ctx, input: { id: orgId, month } });
const draft = (orgId: string, month: string) => invoices.get({ ctx, input: { id: orgId, month } });
const seq = (number: string) => Number(number.split("-").at(-1));
const brief = (lines: { kind: string; amount: string; quantity?: string; model?: string | null }[]) => lines.map((l) => `${l.kind} ${l.model ?? ""} ${l.quantity ?? ""} ${l.amount}`.replace(/ +/g, " "));

async function refused(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected the change to be refused");
}

describe("invoices", () => {
  test("the automatic close finalizes ended months after the grace period, once, with two instances at once", async () => {
    const settings = await invoices.settingsPut({ ctx, input: invoicingSettingsFields.parse({ auto_finalize_after_days: 3, agency_name: "Acme Agency" }) });
    expect(settings.auto_finalize_after_days).toBe(3);
    const orgIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const org = await makeOrg(ctx, { billing_rate_per_agent: "8.00", created_at: "2025-10-01T00:00:00Z" });
      await makeAgent(ctx, { org_id: org.id, created_at: "2025-10-01T00:00:00Z" });
      orgIds.push(org.id);
    }
    const system = ctxFor(database, { kind: "anonymous" });
    // On 2025-12-03T12:00Z, October and November have ended ≥ 3 days ago… November only 2.5 days: October alone.
    const now = new Date("2025-12-03T12:00:00Z");
    const [one, two] = await Promise.all([invoices.autoClose(system, now), invoices.autoClose(system, now)]);
    const issued = [...one, ...two].map(seq).sort((a, b) => a - b);
    const ours = await rows<{ month: string; n: string }>(
      database.db,
      sql`select to_char(month, 'YYYY-MM') as month, count(*)::text as n from invoices where org_id in ${sql.raw(`(${orgIds.map((i) => `'${i}'`).join(",")})`)} group by 1 order by 1`,
    );
    expect(ours).toEqual([{ month: "2025-10", n: "4" }]);
    // Numbers issued by both runs together are consecutive and distinct.
    expect(issued.length).toBe(4);
    expect(new Set(issued).size).toBe(issued.length);
    expect(issued.at(-1)! - issued[0]!).toBe(issued.length - 1);
    // Run again: nothing more to do for October.
    const again = await invoices.autoClose(system, now);
    const after = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from invoices where month = '2025-10-01' and org_id in ${sql.raw(`(${orgIds.map((i) => `'${i}'`).join(",")})`)}`);
    expect(after[0]!.n).toBe("4");
    expect(again).toEqual([]);
    const inv = await draft(orgIds[0]!, "2025-10");
    expect(inv.agency.name).toBe("Acme Agency");
    await invoices.settingsPut({ ctx, input: invoicingSettingsFields.parse({ auto_finalize_after_days: null }) });
    expect(await invoices.autoClose(system, new Date("2026-06-01T00:00:00Z"))).toEqual([]);
  });

  test("a move on the 10th and a custom rate for five days, to the cent", async () => {
    const a = await makeOrg(ctx, { billing_rate_per_agent: "90.00", created_at: MAY });
    const b = await makeOrg(ctx, { billing_rate_per_agent: "60.00", created_at: MAY });
    const agent = await makeAgent(ctx, { org_id: a.id, created_at: MAY });
    await moveAgent(ctx, agent.id, b.id, "2025-06-10T00:00:00Z");
    await setAgentRate(ctx, agent.id, "120.00", "2025-06-20T00:00:00Z");
    await setAgentRate(ctx, agent.id, null, "2025-06-25T00:00:00Z");
    // A: June 1–10, 9 days at 90.00: 90 × 9/30 = 27.00.
    const invA = await finalize(a.id, "2025-06");
    expect(invA.lines).toMatchObject([{ kind: "seat", agent_id: agent.id, quantity: "9.00", amount: "27.00" }]);
    expect(invA.total).toBe("27.00");
    // B: June 10–20 at 60.00 (10 days: 20.00) + June 20–25 at 120.00 (5 days: 20.00) + June 25–July 1 at 60.00 (6 days: 12.00) = 52.00 over 21 days.
    const invB = await finalize(b.id, "2025-06");
    expect(invB.lines).toMatchObject([{ kind: "seat", agent_id: agent.id, quantity: "21.00", amount: "52.00" }]);
    expect(invB.total).toBe("52.00");
    expect(invB.subtotal).toBe("52.00");
    expect(invB.status).toBe("finalized");
    expect(invB.number).toMatch(/^INV-\d{4}-\d{5}$/);
    expect(seq(invB.number!)).toBe(seq(invA.number!) + 1);
  });

  test("a NGN client with a 20 % usage markup; late usage, a re-sent event, an FX change and a void and re-issue each billed once", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "50000.00", currency: "NGN", created_at: MAY });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: MAY });
    await setMarkup(org.id, "20");
    await putFx(ctx, "NGN", "2025-06-01", "1550.5");
    const june = (cost: string, model: string) => event(agent.id, { cost_usd: cost, model, occurred_at: "2025-06-12T08:00:00Z" });
    await ingest(ctx, [june("1.234567", "gpt-4o"), june("0.765433", "gpt-4o"), june("0.333333", "claude-x")]);

    // Seat: 50000.00. Usage per model at fx 1550.5 × 1.20 = 1860.6 NGN per USD:
    //   claude-x 0.333333 × 1860.6 = 620.1993798 → 620.20;  gpt-4o 2.000000 × 1860.6 = 3721.20.
    const inv = await finalize(org.id, "2025-06");
    expect(brief(inv.lines)).toEqual(["seat 30.00 50000.00", "usage claude-x 1.00 620.20", "usage gpt-4o 1.00 3721.20"]);
    expect(inv.total).toBe("54341.40");
    expect(inv.currency).toBe("NGN");

    // A late June event: accepted, and its charge 0.5 × 1860.6 = 930.30 appears once, on July's draft.
    const late = june("0.5", "gpt-4o");
    expect((await ingest(ctx, [late])).accepted).toBe(1);
    expect((await ingest(ctx, [late])).duplicates).toBe(1);
    const july = await draft(org.id, "2025-07");
    expect(brief(july.lines)).toEqual(["seat 31.00 50000.00", "adjustment gpt-4o 1.00 930.30"]);
    expect(july.lines[1]!.description).toBe(`Usage for 2025-06 reported after ${inv.number} — gpt-4o`);
    expect(july.lines[1]!.adjusts_month).toBe("2025-06");
    const julyInv = await finalize(org.id, "2025-07");
    expect(julyInv.total).toBe("50930.30");
    // Billed now: August carries no adjustment of June.
    expect(brief((await draft(org.id, "2025-08")).lines)).toEqual(["seat 31.00 50000.00"]);

    // An FX correction for June (1600 from June 15): gpt-4o 2.5 × 1600 × 1.2 = 4800.00, billed 3721.20 + 930.30 = 4651.50 → +148.50;
    // claude-x 0.333333 × 1920 = 639.99936 → 640.00, billed 620.20 → +19.80. On August, the next open invoice.
    await putFx(ctx, "NGN", "2025-06-15", "1600");
    expect(brief((await draft(org.id, "2025-08")).lines)).toEqual(["seat 31.00 50000.00", "adjustment claude-x 1.00 19.80", "adjustment gpt-4o 1.00 148.50"]);
    expect(await invoices.getByNumber({ ctx, input: { number: inv.number! } })).toEqual(inv);

    // Void June: the month is open again; its draft bills the whole usage at today's figures and takes back what July already billed.
    const voided = await invoices.void({ ctx, input: { number: inv.number!, reason: "wrong FX rate" } });
    expect(voided).toMatchObject({ status: "void", void_reason: "wrong FX rate", lines: inv.lines, total: inv.total });
    const reopened = await draft(org.id, "2025-06");
    expect(reopened.status).toBe("draft");
    expect(brief(reopened.lines)).toEqual(["seat 30.00 50000.00", "usage claude-x 1.00 640.00", "usage gpt-4o 1.00 4800.00", "adjustment gpt-4o 1.00 -930.30"]);
    expect(reopened.lines[3]!.description).toBe(`Usage for 2025-06 already billed on ${julyInv.number} — gpt-4o`);
    // 50000.00 + 640.00 + 4800.00 − 930.30 = 54509.70
    expect(reopened.total).toBe("54509.70");
    // While June is open, August has nothing to adjust for it.
    expect(brief((await draft(org.id, "2025-08")).lines)).toEqual(["seat 31.00 50000.00"]);
    const reissued = await finalize(org.id, "2025-06");
    expect(reissued.number).not.toBe(inv.number);
    expect(seq(reissued.number!)).toBeGreaterThan(seq(julyInv.number!));
    expect(reissued.total).toBe("54509.70");
    // Billed for June: 4800.00 + 930.30 − 930.30 = the charge now known; nothing left to adjust.
    expect(brief((await draft(org.id, "2025-08")).lines)).toEqual(["seat 31.00 50000.00"]);
    // Voiding twice is a conflict; the void invoice stays as it was.
    expect((await refused(invoices.void({ ctx, input: { number: inv.number!, reason: "again" } }))).code).toBe("CONFLICT");
    const list = await invoices.orgList({ ctx, input: { id: org.id } });
    expect(list.invoices.filter((i) => i.month === "2025-06").map((i) => [i.status, i.number])).toEqual([
      ["finalized", reissued.number],
      ["void", inv.number],
    ]);
  });

  test("a finalized month is closed: every write path that could touch it leaves the invoice identical", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "100.00", created_at: MAY });
    const other = await makeOrg(ctx, { billing_rate_per_agent: "70.00", created_at: MAY });
    const agent = await makeAgent(ctx, { org_id: org.id, created_at: MAY });
    const spare = await makeAgent(ctx, { org_id: other.id, created_at: MAY });
    await setMarkup(org.id, "25");
    await ingest(ctx, [event(agent.id, { model: "close-model", occurred_at: "2025-06-03T00:00:00Z" })]); // unpriced for now
    await ingest(ctx, [event(agent.id, { cost_usd: "2.00", occurred_at: "2025-06-04T00:00:00Z" })]);
    const inv = await finalize(org.id, "2025-06");
    // Seat 100.00 + gpt-4o 2.00 × 1.25 = 2.50.
    expect(inv.total).toBe("102.50");
    const auditCount = async () => (await rows<{ n: string }>(database.db, sql`select count(*)::text as n from audit_log`))[0]!.n;
    const before = await auditCount();

    const inJune = "2025-06-20T00:00:00Z";
    const changes: [string, () => Promise<unknown>][] = [
      ["org rate", () => setOrgRate(ctx, org.id, "150.00", inJune)],
      ["org toggle", () => setOrgActive(ctx, org.id, false, inJune)],
      ["agent rate", () => setAgentRate(ctx, agent.id, "10.00", inJune)],
      ["archive", () => setAgentStatus(ctx, agent.id, "archived", inJune)],
      ["move out", () => moveAgent(ctx, agent.id, other.id, inJune)],
      ["move in", () => moveAgent(ctx, spare.id, org.id, inJune)],
      ["unassign", () => agents.unassign({ ctx, input: agentUnassignInput.parse({ id: agent.id, effective_at: inJune }) })],
      ["backdated create", () => agents.create({ ctx, input: agentCreateInput.parse({ name: "Backdated", org_id: org.id, created_at: inJune }) })],
      // A change in May reaches June too.
      ["org rate in May", () => setOrgRate(ctx, org.id, "150.00", "2025-05-20T00:00:00Z")],
    ];
    for (const [what, change] of changes) {
      const err = await refused(change());
      expect({ what, code: err.code, period: err.period }).toEqual({
        what,
        code: "PERIOD_CLOSED",
        period: { month: "2025-06", invoice_number: inv.number!, earliest_allowed: "2025-07-01T00:00:00.000Z" },
      });
    }
    expect(await auditCount()).toBe(before);

    // What is accepted but must not touch the invoice: late usage, a price for the unpriced model,
    // re-pricing, an FX change (USD has none, so an FX change of another currency), a markup change.
    expect((await ingest(ctx, [event(agent.id, { cost_usd: "1.00", occurred_at: "2025-06-28T00:00:00Z" })])).accepted).toBe(1);
    await putPrice(ctx, { model: "close-model", effective_from: "2025-01-01", input_per_m: "1000", output_per_m: "2000" });
    await putPrice(ctx, { model: "gpt-4o", effective_from: "2025-01-01", input_per_m: "5", output_per_m: "15" });
    await usage.reprice({ ctx, input: repriceInput.parse({ from: "2025-06-01", to: "2025-06-30" }) });
    await putFx(ctx, "EUR", "2025-06-10", "0.9");
    await setMarkup(org.id, "50");
    // A change from July on is allowed.
    await setOrgRate(ctx, org.id, "150.00", "2025-07-01T00:00:00Z");
    expect(await invoices.getByNumber({ ctx, input: { number: inv.number! } })).toEqual(inv);
    expect(await draft(org.id, "2025-06")).toEqual(inv);
    // The late cost reaches July as adjustments, at the markup June was billed with (25 %):
    // close-model: 1000 × 1000/1e6 + 500 × 2000/1e6 = 2.00 USD → 2.50; gpt-4o: 2.00 + 1.00 = 3.00 USD → 3.75, billed 2.50 → 1.25.
    const july = await draft(org.id, "2025-07");
    expect(brief(july.lines.filter((l) => l.kind === "adjustment"))).toEqual(["adjustment close-model 1.00 2.50", "adjustment gpt-4o 1.00 1.25"]);
  });

  test("only a month that has ended is finalized, once; a failed finalization consumes no number", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "10.00", created_at: MAY });
    await makeAgent(ctx, { org_id: org.id, created_at: MAY });
    const current = new Date().toISOString().slice(0, 7);
    expect((await refused(finalize(org.id, current))).code).toBe("CONFLICT");
    const empty = await makeOrg(ctx, { created_at: MAY });
    expect((await refused(finalize(empty.id, "2025-06"))).code).toBe("CONFLICT");
    const [{ n: last }] = (await rows<{ n: string }>(database.db, sql`select last_number::text as n from invoice_counter`)) as [{ n: string }];
    const inv = await finalize(org.id, "2025-06");
    expect(seq(inv.number!)).toBe(Number(last) + 1);
    expect((await refused(finalize(org.id, "2025-06"))).code).toBe("CONFLICT");
    // The database refuses any change of a finalized invoice but voiding it.
    await refused(Promise.resolve(database.db.execute(sql`update invoice_lines set amount = 0 where invoice_id = ${inv.id}::uuid`)));
    await refused(Promise.resolve(database.db.execute(sql`update invoices set total = 0 where id = ${inv.id}::uuid`)));
    await refused(Promise.resolve(database.db.execute(sql`delete from invoice_lines where invoice_id = ${inv.id}::uuid`)));
    expect((await invoices.getByNumber({ ctx, input: { number: inv.number! } })).total).toBe("10.00");
  });

  test("50 parallel finalizations across organizations (each tried twice at once) take consecutive numbers, no gap, no duplicate", async () => {
    const orgIds: string[] = [];
    for (let i = 0; i < 50; i++) {
      const org = await makeOrg(ctx, { billing_rate_per_agent: "5.00", created_at: MAY });
      await makeAgent(ctx, { org_id: org.id, created_at: MAY });
      orgIds.push(org.id);
    }
    // Every organization's September twice at once: one finalization wins, the other is a 409 that
    // must not consume a number.
    const results = await Promise.allSettled([...orgIds, ...orgIds].map((id) => finalize(id, "2025-09")));
    const refusedTwice = results.filter((r) => r.status === "rejected").map((r) => ((r as PromiseRejectedResult).reason as AppError).code);
    expect(refusedTwice).toEqual(orgIds.map(() => "CONFLICT"));
    const numbers = results.flatMap((r) => (r.status === "fulfilled" ? [seq(r.value.number!)] : [])).sort((a, b) => a - b);
    expect(numbers).toHaveLength(50);
    expect(new Set(numbers).size).toBe(50);
    expect(numbers.at(-1)! - numbers[0]!).toBe(49);
    const [{ n }] = (await rows<{ n: string }>(database.db, sql`select count(*)::text as n from invoices`)) as [{ n: string }];
    const [{ last }] = (await rows<{ last: string }>(database.db, sql`select last_number::text as last from invoice_counter`)) as [{ last: string }];
    // Every number ever issued in this database is used by exactly one invoice.
    expect(last).toBe(n);
  });

  test("an organization-bound principal sees only its own invoices and may not finalize or void", async () => {
    const own = await makeOrg(ctx, { billing_rate_per_agent: "3.00", created_at: MAY });
    const foreign = await makeOrg(ctx, { billing_rate_per_agent: "3.00", created_at: MAY });
    await makeAgent(ctx, { org_id: own.id, created_at: MAY });
    await makeAgent(ctx, { org_id: foreign.id, created_at: MAY });
    const mine = await finalize(own.id, "2025-08");
    const theirs = await finalize(foreign.id, "2025-08");
    const bound = ctxFor(database, user("admin", own.id));
    const listed = await invoices.list({ ctx: bound, input: { limit: 500 } });
    expect(listed.invoices.map((i) => i.organization_id)).toEqual(listed.invoices.map(() => own.id));
    expect(listed.invoices.map((i) => i.number)).toContain(mine.number);
    expect((await refused(invoices.getByNumber({ ctx: bound, input: { number: theirs.number! } }))).code).toBe("NOT_FOUND");
    expect((await refused(invoices.get({ ctx: bound, input: { id: foreign.id, month: "2025-08" } }))).code).toBe("NOT_FOUND");
    expect((await refused(invoices.void({ ctx: bound, input: { number: mine.number!, reason: "no" } }))).code).toBe("FORBIDDEN");
    expect((await refused(invoices.finalize({ ctx: bound, input: { id: own.id, month: "2025-09" } }))).code).toBe("FORBIDDEN");
  });

  test("an invoice's PDF is rendered on its first download and served from storage after; voiding adds its VOID document", async () => {
    const org = await makeOrg(ctx, { billing_rate_per_agent: "12.00", created_at: MAY });
    await makeAgent(ctx, { org_id: org.id, created_at: MAY });
    const inv = await finalize(org.id, "2025-06");
    const stored = async () => rows<{ status: string; pdf: string }>(database.db, sql`select status, encode(pdf, 'hex') as pdf from invoice_documents where invoice_id = ${inv.id}::uuid order by status`);
    const pdf = async () => Buffer.from((await invoices.document({ ctx, input: { number: inv.number!, format: "pdf" } })).content as Uint8Array);
    expect(await stored()).toEqual([]);
    // Four first downloads at once: one stored document, the same bytes for all.
    const firsts = await Promise.all([pdf(), pdf(), pdf(), pdf()]);
    const first = firsts[0]!;
    expect(first.subarray(0, 5).toString()).toBe("%PDF-");
    for (const other of firsts) expect(other.equals(first)).toBe(true);
    expect(await stored()).toEqual([{ status: "finalized", pdf: first.toString("hex") }]);
    // The next download is the stored bytes, not a new rendering: a marker written into the store comes back.
    await database.db.execute(sql`update invoice_documents set pdf = '\\x2550444621'::bytea where invoice_id = ${inv.id}::uuid`);
    expect((await pdf()).toString()).toBe("%PDF!");
    await database.db.execute(sql`update invoice_documents set pdf = decode(${first.toString("hex")}, 'hex') where invoice_id = ${inv.id}::uuid`);
    // tRPC's twin carries the same bytes as base64, and the CSV and JSON as text.
    const file = await invoices.documentFile({ ctx, input: { number: inv.number!, format: "pdf" } });
    expect({ ...file, content: "" }).toEqual({ filename: `${inv.number}.pdf`, content_type: "application/pdf", encoding: "base64", content: "" });
    expect(Buffer.from(file.content, "base64").equals(first)).toBe(true);
    const csv = await invoices.documentFile({ ctx, input: { number: inv.number!, format: "csv" } });
    expect(csv).toMatchObject({ filename: `${inv.number}.csv`, encoding: "utf-8" });
    expect(csv.content.split("\r\n")[1]).toContain("Agent seat");
    const json = await invoices.documentFile({ ctx, input: { number: inv.number!, format: "json" } });
    expect(JSON.parse(json.content)).toEqual(await invoices.getByNumber({ ctx, input: { number: inv.number! } }));
    // Voiding: the VOID document is rendered once and stored beside the finalized one.
    await invoices.void({ ctx, input: { number: inv.number!, reason: "Wrong rate" } });
    const voidPdf = await pdf();
    expect(voidPdf.equals(first)).toBe(false);
    expect((await pdf()).equals(voidPdf)).toBe(true);
    expect((await invoices.documentFile({ ctx, input: { number: inv.number!, format: "pdf" } })).filename).toBe(`${inv.number}-VOID.pdf`);
    expect(await stored()).toEqual([
      { status: "finalized", pdf: first.toString("hex") },
      { status: "void", pdf: voidPdf.toString("hex") },
    ]);
  });
});
