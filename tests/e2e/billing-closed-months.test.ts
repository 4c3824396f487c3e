import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { signInThroughUi } from "./support/flows";

/**
 * The Billing tab marks a closed month (a finalized invoice) with its invoice number; open months
 * carry no mark. Screenshots docs/screenshots/billing-closed-month-{1280,390}.png.
 */
const app = await startApp();
const MAY = "2025-05-01T00:00:00Z";
const org = (await app.api.post("/api/organizations", { name: "Closed Month Co", billing_rate_per_agent: "120.00", created_at: MAY })).body;
await app.api.post("/api/agents", { name: "Ledger Bot", org_id: org.id, created_at: MAY });
const owner = await makeUser(app.database, "owner");
let page: Page;
let errors: string[];

describe("closed months in the Billing tab", () => {
  test("a finalized June shows 'Closed · <number>'; July does not", async () => {
    const issued = await app.api.post(`/api/organizations/${org.id}/invoices/2025-06/finalize`, {});
    expect(issued.status).toBe(201);
    page = await app.newPage({ width: 1280, height: 1000 });
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, `/organizations/${org.slug}?tab=billing&from=2025-06&to=2025-07`);
    await page.waitForSelector("[data-testid=billing-records]");
    const row = (month: string) => page.locator("[data-testid=billing-records] tr", { hasText: month });
    expect((await row("Jun 2025").locator("[data-testid=closed-month]").textContent())?.trim()).toBe(`Closed · ${issued.body.number}`);
    expect(await row("Jul 2025").locator("[data-testid=closed-month]").count()).toBe(0);
    // For docs/web.md: the badge at both widths (at 390 px the table scrolls sideways inside its card).
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 900 : 1000 });
      const badge = row("Jun 2025").locator("[data-testid=closed-month]");
      await badge.scrollIntoViewIfNeeded();
      expect(await badge.isVisible()).toBe(true);
      await page.mouse.move(0, 0);
      await screenshot(page, `billing-closed-month-${width}`, { fullPage: false });
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});
