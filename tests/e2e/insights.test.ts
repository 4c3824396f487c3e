import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { seedDemoWithUsage } from "./support/demo-usage";
import { signInThroughUi, textOf } from "./support/flows";

/**
 * The insights in the browser on the demo data (docs/web.md): the break-even allowance on each
 * agent row of an organization, and the what-if panel beside the actual figures of a past month,
 * each checked against the API. A bound user sees neither.
 */
const app = await startApp();
await seedDemoWithUsage(app.database, app.api);
const owner = await makeUser(app.database, "owner");
const agenticmail = (await app.api.get("/api/organizations/agenticmail")).body;
const boundAdmin = await makeUser(app.database, "admin", agenticmail.id);
const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", roundingMode: "halfEven" });
const pct = (v: string) => `${new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(v as Intl.StringNumericLiteral)}%`;
let page: Page;
let errors: string[];

const lastMonth = (() => {
  const d = new Date();
  const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1));
  return `${m.getUTCFullYear()}-${String(m.getUTCMonth() + 1).padStart(2, "0")}`;
})();

describe("insights in the web app", () => {
  test("each agent row shows its break-even allowance this month: the API's share and allowance", async () => {
    page = await app.newPage({ width: 1280, height: 900 });
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/organizations/agenticmail");
    await page.waitForSelector("[data-testid=break-even]");
    const api = (await app.api.get("/api/organizations/agenticmail/insights")).body;
    const withShare = api.agents.filter((a: { share_used_pct: string | null }) => a.share_used_pct !== null);
    expect(withShare.length).toBeGreaterThan(0);
    for (const a of withShare) {
      const cell = page.locator(`tr[data-agent="${a.agent_name}"] [data-testid=break-even]`);
      const text = (await cell.textContent())!.replace(/\s+/g, " ");
      expect(text).toContain(`${pct(a.share_used_pct)} of ${usd.format(a.allowance)}`);
      expect(text).toContain(a.remaining_tokens >= 0 ? "tokens left" : "tokens over");
    }
    await screenshot(page, "insights-break-even-1280", { fullPage: false });
    await page.setViewportSize({ width: 390, height: 844 });
    // The table scrolls sideways inside its card on a phone: scrolled to the allowances.
    await page.locator("[role=region]:has([data-testid=org-agents])").evaluate((el) => (el.scrollLeft = el.scrollWidth));
    await screenshot(page, "insights-break-even-390", { fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  test("the what-if panel shows a past month at another rate beside the actual figures", async () => {
    await page.goto(app.base + "/organizations/agenticmail?tab=billing");
    const panel = page.locator("[data-testid=what-if]");
    await panel.waitFor();
    await panel.locator("#what-if-rate").fill("not money");
    await panel.locator("[data-testid=what-if-compare]").click();
    await panel.locator("[data-field-error=what-if-rate]").waitFor();

    await panel.locator("#what-if-month").selectOption(lastMonth);
    await panel.locator("#what-if-rate").fill("250");
    await panel.locator("[data-testid=what-if-compare]").click();
    const figures = panel.locator("[data-testid=what-if-figures]");
    await figures.waitFor();
    const api = (await app.api.post("/api/organizations/agenticmail/what-if", { month: lastMonth, rate: "250" })).body;
    const row = async (label: string) => (await figures.locator("tr", { has: page.locator(`th:text-is("${label}")`) }).locator("td").allTextContents()).map((t) => t.trim());
    expect((await row("Revenue")).slice(0, 2)).toEqual([usd.format(api.actual.revenue), usd.format(api.what_if.revenue)]);
    expect((await row("Token cost")).slice(0, 2)).toEqual([usd.format(api.actual.cost), usd.format(api.what_if.cost)]);
    expect((await row("Margin")).slice(0, 2)).toEqual([usd.format(api.actual.margin), usd.format(api.what_if.margin)]);
    expect((await row("Margin %")).slice(0, 2)).toEqual([pct(api.actual.margin_pct), pct(api.what_if.margin_pct)]);
    expect(api.what_if.revenue).not.toBe(api.actual.revenue);
    await panel.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: "docs/screenshots/insights-what-if-1280.png" });
    await page.setViewportSize({ width: 390, height: 844 });
    await panel.screenshot({ path: "docs/screenshots/insights-what-if-390.png" });
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  test("another model re-prices the month's tokens, and the panel names the model", async () => {
    const prices = (await app.api.get("/api/model-prices")).body.prices as { model: string; effective_from: string }[];
    const model = prices.find((p) => p.effective_from < `${lastMonth}-28`)!.model;
    const panel = page.locator("[data-testid=what-if]");
    await panel.locator("#what-if-rate").fill("");
    await panel.locator("#what-if-model").selectOption(model);
    await panel.locator("[data-testid=what-if-compare]").click();
    const api = (await app.api.post("/api/organizations/agenticmail/what-if", { month: lastMonth, model })).body;
    await page.waitForFunction(
      (expected) => document.querySelector("[data-testid=what-if-figures] tbody tr:nth-child(2) td:nth-of-type(2)")?.textContent?.trim() === expected,
      usd.format(api.what_if.cost),
    );
    expect(await textOf(page, "[data-testid=what-if] p.text-xs >> nth=1")).toContain(model);
    expect(errors).toEqual([]);
  }, 60_000);

  test("an organization-bound admin sees no break-even column and no what-if panel", async () => {
    const bound = await app.newPage({ width: 1280, height: 900 });
    await signInThroughUi(bound, app.base, boundAdmin.email, boundAdmin.password, "/organizations/agenticmail");
    await bound.waitForSelector("[data-testid=org-agents]");
    expect(await bound.locator("text=Break-even this month").count()).toBe(0);
    await bound.goto(app.base + "/organizations/agenticmail?tab=billing");
    await bound.waitForSelector("[data-testid=billing-records]");
    expect(await bound.locator("[data-testid=what-if]").count()).toBe(0);
    await bound.close();
  }, 60_000);
});
