import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { signInThroughUi } from "./support/flows";

/**
 * The Invoices tab of an organization: finalize a month and void it through the confirmations,
 * the PDF and CSV downloads (through tRPC's invoices.document), the Invoices page's filters, and the read-only view of a user bound to the organization; screenshots at 1280
 * and 390 px (docs/screenshots/org-invoices-*.png).
 */
const app = await startApp();
const MAY = "2025-05-01T00:00:00Z";
const org = (await app.api.post("/api/organizations", { name: "Harbor Freight Co", billing_rate_per_agent: "120.00", created_at: MAY })).body;
for (const name of ["Quote Bot", "Claims Bot"]) await app.api.post("/api/agents", { name, org_id: org.id, created_at: MAY });
const owner = await makeUser(app.database, "owner");
const bound = await makeUser(app.database, "viewer", org.id);
let page: Page;
let errors: string[];

const row = (month: string) => page.locator("[data-testid=invoice-row]", { hasText: month });

describe("invoices in the web app", () => {
  test("an owner finalizes a month and voids it, each after a confirmation that says what happens", async () => {
    page = await app.newPage({ width: 1280, height: 1000 });
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, `/organizations/${org.slug}?tab=invoices`);
    await page.waitForSelector("[data-testid=invoices-table]");
    // Two agents for all of June at 120.00: 240.00, a draft without a number.
    await expect(row("Jun 2025").textContent()).resolves.toContain("Draft");
    await expect(row("Jun 2025").textContent()).resolves.toContain("$240.00");

    await row("Jun 2025").locator("[data-testid=invoice-finalize]").click();
    const dialog = page.locator("[data-testid=confirm-dialog]");
    await expect(dialog.textContent()).resolves.toContain("becomes closed");
    await dialog.getByRole("button", { name: "Finalize and issue" }).click();
    await dialog.waitFor({ state: "detached" });
    const issued = (await app.api.get(`/api/invoices?org=${org.id}`)).body.invoices[0];
    expect(issued).toMatchObject({ month: "2025-06", status: "finalized", total: "240.00" });
    await page.waitForFunction((n) => document.querySelector("[data-testid=invoices-table]")?.textContent?.includes(n), issued.number);
    // PDF comes through tRPC's invoices.document (base64) and is saved with the very bytes REST serves.
    const [download] = await Promise.all([page.waitForEvent("download"), row("Jun 2025").locator("[data-testid=invoice-pdf]").click()]);
    expect(download.suggestedFilename()).toBe(`${issued.number}.pdf`);
    const saved = readFileSync((await download.path())!);
    const served = Buffer.from(await (await fetch(`${app.base}/api/invoices/${issued.number}/pdf`, { headers: { "x-api-key": "test-admin-key" } })).arrayBuffer());
    expect(saved.subarray(0, 5).toString()).toBe("%PDF-");
    expect(saved.equals(served)).toBe(true);

    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 1400 : 1000 });
      await page.mouse.move(0, 0);
      await page.locator("[data-testid=tab-invoices]").scrollIntoViewIfNeeded();
      await page.evaluate(() => document.querySelector("[data-testid=org-detail] [data-testid=tab-invoices]")?.closest("nav")?.parentElement?.scrollTo(0, 0));
      await screenshot(page, `org-invoices-${width}`, { fullPage: false });
    }
    await page.setViewportSize({ width: 1280, height: 1000 });

    await row("Jun 2025").locator("[data-testid=invoice-void]").first().click();
    await expect(dialog.textContent()).resolves.toContain("opens again");
    const confirm = dialog.getByRole("button", { name: "Void invoice" });
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill("[data-testid=void-reason]", "Wrong client contact");
    await confirm.click();
    await dialog.waitFor({ state: "detached" });
    const voided = (await app.api.get(`/api/invoices/${issued.number}`)).body;
    expect(voided).toMatchObject({ status: "void", void_reason: "Wrong client contact" });
    // June is a draft again, listed above its void invoice.
    await page.waitForFunction(() => Array.from(document.querySelectorAll("[data-testid=invoice-row]")).some((r) => r.textContent?.includes("Void")));
    const june = await row("Jun 2025").allTextContents();
    expect(june.map((t) => (t.includes("Void") ? "void" : t.includes("Draft") ? "draft" : "?"))).toEqual(["draft", "void"]);

    // The Invoices page across organizations, filtered to void ones.
    await page.goto(app.base + "/invoices");
    await page.waitForSelector("[data-testid=invoices-page-table]");
    await page.selectOption("[data-testid=filter-status]", "void");
    await page.waitForFunction(() => Array.from(document.querySelectorAll("[data-testid=invoices-page-row]")).every((r) => r.textContent?.includes("Void")));
    const rows = await page.locator("[data-testid=invoices-page-row]").allTextContents();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(issued.number);
    expect(rows[0]).toContain("Harbor Freight Co");
    const [csv] = await Promise.all([page.waitForEvent("download"), page.locator("[data-testid=invoices-page-csv]").click()]);
    expect(csv.suggestedFilename()).toBe(`${issued.number}-VOID.csv`);
    expect(readFileSync((await csv.path())!, "utf8")).toStartWith("kind,description,agent_id,model,quantity,unit_amount,amount,adjusts_month\r\nseat,");
    expect(errors).toEqual([]);
  }, 90_000);

  test("a user bound to the organization sees its invoices read-only", async () => {
    const p = await app.newPage({ width: 1280, height: 1000 });
    await signInThroughUi(p, app.base, bound.email, bound.password, `/organizations/${org.slug}?tab=invoices`);
    await p.waitForSelector("[data-testid=invoices-table]");
    expect(await p.locator("[data-testid=invoice-finalize]").count()).toBe(0);
    expect(await p.locator("[data-testid=invoice-void]").count()).toBe(0);
    expect(await p.locator("[data-testid=invoice-pdf]").count()).toBeGreaterThanOrEqual(1);
    await expect(p.locator("#invoices-title").locator("..").textContent()).resolves.toContain("Read only");
    await p.close();
  }, 60_000);
});
