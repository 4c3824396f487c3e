import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { seedDemoWithUsage } from "./support/demo-usage";
import { signInThroughUi, textOf } from "./support/flows";

/**
 * Billing in the browser on the demo data with a year of usage: the Billing tab's chart and totals
 * against the API, the CSV export, and the screenshots of the main screens at desktop and phone
 * widths (docs/screenshots).
 */
const app = await startApp();
await seedDemoWithUsage(app.database, app.api);
const owner = await makeUser(app.database, "owner");
// Amounts on screen are in cents, rounded half to even like the server (docs/web.md).
const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", roundingMode: "halfEven" });
let page: Page;
let errors: string[];

const monthsBack = (n: number) => {
  const d = new Date();
  const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 1));
  return `${m.getUTCFullYear()}-${String(m.getUTCMonth() + 1).padStart(2, "0")}`;
};

describe("billing in the web app", () => {
  test("the Billing tab draws one month per month of the range and shows the API's totals", async () => {
    page = await app.newPage();
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/organizations/agenticmail?tab=billing");
    const chart = page.locator("[data-testid=revenue-cost-chart]");
    await chart.locator("svg").first().waitFor();
    expect(await chart.getAttribute("data-months")).toBe("12");
    // One x-axis label per month, drawn by the chart itself.
    const labels = await chart.locator("svg text").allTextContents();
    const monthLabels = labels.filter((t) => /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/.test(t.trim()));
    expect(monthLabels).toHaveLength(12);
    // Two bars (revenue, cost) per month.
    expect(await chart.locator("svg .lc-bar, svg [class*=bar] rect, svg rect.lc-rect").count()).toBeGreaterThanOrEqual(24);

    const from = monthsBack(11);
    const to = monthsBack(0);
    const api = (await app.api.get(`/api/organizations/agenticmail/billing-summary?from=${from}&to=${to}`)).body;
    expect(api.summary).toHaveLength(12);
    expect(await textOf(page, "[data-testid=total-revenue]")).toBe(usd.format(api.totals.total_revenue));
    expect(await textOf(page, "[data-testid=total-cost]")).toBe(usd.format(api.totals.total_cost));
    expect(await textOf(page, "[data-testid=total-margin]")).toBe(usd.format(api.totals.margin));
    expect(await textOf(page, "[data-testid=total-margin-pct]")).toBe(`${api.totals.margin_pct}%`);
    expect(Number(api.totals.total_revenue)).toBeGreaterThan(0);

    // A shorter range from the quick picker: six months, six groups, totals follow.
    await page.click("text=6m");
    await page.waitForURL(/from=/);
    await page.waitForFunction(() => document.querySelector("[data-testid=revenue-cost-chart]")?.getAttribute("data-months") === "6");
    const six = (await app.api.get(`/api/organizations/agenticmail/billing-summary?from=${monthsBack(5)}&to=${to}`)).body;
    await page.waitForFunction((expected) => document.querySelector("[data-testid=total-revenue]")?.textContent?.trim() === expected, usd.format(six.totals.total_revenue));
  }, 60_000);

  test("Export CSV downloads the same file the REST export serves", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-csv]")]);
    const path = await download.path();
    const csv = readFileSync(path!, "utf8");
    const from = monthsBack(5);
    const to = monthsBack(0);
    const rest = await app.api.get(`/api/organizations/agenticmail/billing/export?from=${from}&to=${to}&format=csv`);
    expect(rest.status).toBe(200);
    expect(download.suggestedFilename()).toEndWith(".csv");
    expect(csv).toBe(rest.body);
    expect(csv.trim().split("\n").length).toBeGreaterThan(6);
  }, 30_000);

  test("the dashboard shows this month's figures in cents, as the overview has them", async () => {
    await page.goto(app.base + "/");
    await page.waitForSelector("[data-testid=margin-ranking]");
    const month = (await app.api.get("/api/billing/overview")).body;
    // The token cost is kept to 4 decimals; on screen it is an amount like any other.
    expect(month.totals.cost_usd).toMatch(/\.\d{4}$/);
    expect(await textOf(page, "[data-testid=mtd-cost]")).toBe(usd.format(month.totals.cost_usd));
    // Revenue (and so margin) grows by the second in the current month: their format is checked.
    const cents = /^-?\$[\d,]+\.\d{2}$/;
    for (const id of ["mtd-cost", "mtd-revenue", "mtd-margin"]) expect(await textOf(page, `[data-testid=${id}]`)).toMatch(cents);
    // Every amount in the ranking too: no figure with more than two decimals anywhere on the page.
    const body = await page.locator("main").innerText();
    expect(body.match(/[$€£]\s?[\d,]+\.\d{3,}/g)).toBeNull();
  }, 30_000);

  test("screenshots of the dashboard, the grid and both tabs at 1280 px and 390 px", async () => {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 860 });
      await page.goto(app.base + "/");
      await page.locator("[data-testid=revenue-cost-chart] svg").first().waitFor();
      await page.waitForSelector("[data-testid=margin-ranking]");
      await page.mouse.move(0, 0);
      expect(await page.locator("[data-testid=margin-ranking] [data-losing=true]").count()).toBeGreaterThanOrEqual(1);
      await screenshot(page, `dashboard-${width}`);

      await page.goto(app.base + "/organizations");
      await page.waitForSelector("[data-testid=org-card]");
      await page.waitForFunction(() => !document.querySelector("[data-testid=org-grid] .animate-pulse"));
      await screenshot(page, `organizations-${width}`);

      // The organization opens as a modal over the grid: screenshot the (tall) viewport.
      await page.setViewportSize({ width, height: width === 390 ? 1500 : 1000 });
      await page.click("[data-testid=org-card][data-slug=agenticmail] h2 a");
      await page.waitForSelector("[data-testid=org-agents]");
      await screenshot(page, `org-agents-${width}`, { fullPage: false });

      await page.click("[data-testid=tab-billing]");
      await page.locator("[data-testid=revenue-cost-chart] svg").first().waitFor();
      await page.waitForSelector("[data-testid=billing-records]");
      await page.mouse.move(0, 0);
      await screenshot(page, `org-billing-${width}`, { fullPage: false });
      // Back closes the modal and returns to the grid.
      await page.goBack();
      await page.waitForURL(app.base + "/organizations");
      await page.locator("[data-testid=org-detail]").waitFor({ state: "detached" });
    }
    // Nothing is wider than the phone's screen.
    await page.goto(app.base + "/organizations");
    await page.waitForSelector("[data-testid=org-card]");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  }, 90_000);

  test("no uncaught errors in the app along the way", () => {
    expect(errors).toEqual([]);
  });
});
