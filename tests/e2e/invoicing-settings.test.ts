import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { signInThroughUi } from "./support/flows";

/**
 * The Invoicing settings tab (a refused value shown beside its field, nothing changed; then saved)
 * and an organization's "Bill token usage" setting, each checked through the API; a viewer sees
 * both read-only. Screenshots at 1280 and 390 px: settings-invoicing-*, org-usage-markup-*,
 * invoices-page-*.
 */
const app = await startApp();
const MAY = "2025-05-01T00:00:00Z";
const org = (await app.api.post("/api/organizations", { name: "Lighthouse Dental", billing_rate_per_agent: "90.00", created_at: MAY })).body;
const agent = (await app.api.post("/api/agents", { name: "Front Desk Bot", org_id: org.id, created_at: MAY })).body;
// $2.00 of June's token usage: billed only once the organization bills usage.
expect((await app.api.post("/api/usage", { events: [{ id: "markup-1", agent_id: agent.id, model: "gpt-4o", input_tokens: 10, output_tokens: 5, cost_usd: "2.000000", occurred_at: "2025-06-12T08:00:00Z" }] })).body.accepted).toBe(1);
const owner = await makeUser(app.database, "owner");
const viewer = await makeUser(app.database, "viewer");
let page: Page;

async function shoot(p: Page, name: string, ready: string) {
  for (const width of [1280, 390]) {
    await p.setViewportSize({ width, height: width === 390 ? 1200 : 900 });
    await p.mouse.move(0, 0);
    await p.waitForSelector(ready);
    // As after opening the page at this width: the open settings tab scrolled into view.
    await p.evaluate(() => document.querySelector("nav[aria-label='Settings sections'] [aria-current=page]")?.scrollIntoView({ block: "nearest", inline: "nearest" }));
    await screenshot(p, `${name}-${width}`);
  }
  await p.setViewportSize({ width: 1280, height: 900 });
}

describe("invoicing settings in the web app", () => {
  test("an owner's bad prefix is refused beside its field and changes nothing; the corrected form saves every field", async () => {
    page = await app.newPage({ width: 1280, height: 900 });
    const errors = watchErrors(page);
    const before = (await app.api.get("/api/settings/invoicing")).body;
    await signInThroughUi(page, app.base, owner.email, owner.password, "/settings/invoicing");
    await page.waitForSelector("[data-testid=invoicing-form]");
    expect(await page.getByRole("link", { name: "Invoicing" }).getAttribute("aria-current")).toBe("page");
    expect(await page.inputValue("#inv-prefix")).toBe(before.invoice_prefix);

    await page.fill("#inv-agency-name", "Northwind Agents Ltd");
    await page.fill("#inv-agency-address", "1 Harbour Road\nBristol BS1 4AA");
    await page.fill("#inv-agency-email", "billing@northwind.example");
    await page.fill("#inv-prefix", "nw-2026");
    await page.fill("#inv-terms", "14");
    await page.fill("#inv-auto", "");
    await expect(page.textContent("[data-testid=invoicing-saved]")).resolves.toContain("Unsaved changes");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.waitForSelector("[data-field-error=inv-prefix]");
    await expect(page.textContent("[data-field-error=inv-prefix]")).resolves.toContain("upper-case letters or digits");
    expect(await page.getAttribute("#inv-prefix", "aria-invalid")).toBe("true");
    // Refused as a whole: not even the valid fields were saved.
    expect((await app.api.get("/api/settings/invoicing")).body).toEqual(before);
    await shoot(page, "settings-invoicing-error", "[data-field-error=inv-prefix]");

    await page.fill("#inv-prefix", "NW");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.waitForSelector("[data-field-error=inv-prefix]", { state: "detached" });
    await page.waitForFunction(() => document.querySelector("[data-testid=invoicing-saved]")?.textContent?.startsWith("Saved"));
    const after = (await app.api.get("/api/settings/invoicing")).body;
    expect(after).toMatchObject({
      agency_name: "Northwind Agents Ltd",
      agency_address: "1 Harbour Road\nBristol BS1 4AA",
      agency_email: "billing@northwind.example",
      invoice_prefix: "NW",
      payment_terms_days: 14,
      auto_finalize_after_days: null,
    });
    // A reload shows what was saved.
    await page.reload();
    await page.waitForSelector("[data-testid=invoicing-form]");
    expect(await page.inputValue("#inv-prefix")).toBe("NW");
    expect(await page.inputValue("#inv-auto")).toBe("");
    await shoot(page, "settings-invoicing", "[data-testid=invoicing-form]");
    expect(errors).toEqual([]);
  }, 90_000);

  test("an owner bills an organization's token usage with a markup, after a refused negative one", async () => {
    const errors = watchErrors(page);
    await page.goto(`${app.base}/organizations/${org.slug}?tab=invoices`);
    await page.waitForSelector("[data-testid=usage-markup] form");
    await expect(page.textContent("[data-testid=markup-current]")).resolves.toContain("not billed");
    const june = page.locator("[data-testid=invoice-row]", { hasText: "Jun 2025" });
    await expect(june.textContent()).resolves.toContain("$90.00");
    expect(await page.isChecked("[data-testid=markup-off]")).toBe(true);

    await page.check("[data-testid=markup-on]");
    await page.fill("[data-testid=markup-pct]", "-5");
    await page.locator("[data-testid=usage-markup]").getByRole("button", { name: "Save" }).click();
    await page.waitForSelector("[data-field-error=usage-markup-pct]");
    expect((await app.api.get(`/api/organizations/${org.id}/invoicing`)).body.usage_markup_pct).toBeNull();

    await page.fill("[data-testid=markup-pct]", "12.5");
    await page.locator("[data-testid=usage-markup]").getByRole("button", { name: "Save" }).click();
    await page.waitForFunction(() => document.querySelector("[data-testid=markup-current]")?.textContent?.includes("12.50"));
    expect((await app.api.get(`/api/organizations/${org.id}/invoicing`)).body).toEqual({ organization_id: org.id, usage_markup_pct: "12.50" });
    // June's draft gains a usage line: 2.00 × 1.125 = 2.25 on top of the 90.00 seat.
    await page.waitForFunction(() => Array.from(document.querySelectorAll("[data-testid=invoice-row]")).some((r) => r.textContent?.includes("Jun 2025") && r.textContent.includes("$92.25")));
    expect((await app.api.get(`/api/organizations/${org.id}/invoices/2025-06`)).body.total).toBe("92.25");
    await shoot(page, "org-usage-markup", "[data-testid=usage-markup]");

    await page.check("[data-testid=markup-cost]");
    await page.locator("[data-testid=usage-markup]").getByRole("button", { name: "Save" }).click();
    await page.waitForFunction(() => document.querySelector("[data-testid=markup-current]")?.textContent?.includes("billed at cost."));
    expect((await app.api.get(`/api/organizations/${org.id}/invoicing`)).body.usage_markup_pct).toBe("0.00");
    await page.waitForFunction(() => Array.from(document.querySelectorAll("[data-testid=invoice-row]")).some((r) => r.textContent?.includes("Jun 2025") && r.textContent.includes("$92.00")));

    // Two issued invoices, numbered with the prefix saved above, fill the Invoices page.
    for (const month of ["2025-06", "2025-07"]) expect((await app.api.post(`/api/organizations/${org.id}/invoices/${month}/finalize`, {})).status).toBe(201);
    await page.goto(`${app.base}/invoices`);
    await page.waitForSelector("[data-testid=invoices-page-row]");
    await expect(page.textContent("[data-testid=invoices-page-table]")).resolves.toContain("NW-");
    await page.waitForFunction(() => !document.querySelector("main .animate-pulse"));
    await shoot(page, "invoices-page", "main h1");
    expect(errors).toEqual([]);
  }, 90_000);

  test("a viewer sees both settings read-only", async () => {
    const p = await app.newPage({ width: 1280, height: 900 });
    await signInThroughUi(p, app.base, viewer.email, viewer.password, "/settings/invoicing");
    await p.waitForSelector("[data-testid=invoicing-read-only]");
    expect(await p.isDisabled("#inv-prefix")).toBe(true);
    expect(await p.getByRole("button", { name: "Save settings" }).count()).toBe(0);
    expect(await p.inputValue("#inv-prefix")).toBe("NW");

    await p.goto(`${app.base}/organizations/${org.slug}?tab=invoices`);
    await p.waitForSelector("[data-testid=usage-markup] form");
    expect(await p.isDisabled("[data-testid=markup-cost]")).toBe(true);
    expect(await p.isChecked("[data-testid=markup-cost]")).toBe(true);
    await expect(p.textContent("[data-testid=markup-current]")).resolves.toContain("read only");
    await p.close();
  }, 60_000);
});
