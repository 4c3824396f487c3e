import { describe, expect, test } from "bun:test";
import type { Page, Response } from "playwright-core";
import { makeUser } from "../support/access";
import { startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { signInThroughUi } from "./support/flows";

/**
 * What the organizations page's first visit runs (docs/web.md, "First visit"): the dialogs'
 * code (bits-ui's dialog, focus trap and scroll lock) is not part of it, and is fetched when the
 * first dialog opens, which then works as before; small shared modules have no file of their own.
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
await app.api.post("/api/organizations", { name: "Harbor Logistics", billing_rate_per_agent: "120.00" });

/** The scripts a page receives from now on, with whether each holds the dialog's code. */
function watchScripts(page: Page) {
  const seen: Promise<{ url: string; dialog: boolean }>[] = [];
  page.on("response", (res: Response) => {
    if (res.request().resourceType() !== "script") return;
    seen.push(res.text().then((body) => ({ url: res.url(), dialog: body.includes("`alert-dialog`") || body.includes('"alert-dialog"') })));
  });
  return () => Promise.all(seen);
}

describe("the organizations page's first visit", () => {
  let page: Page;
  let errors: string[];

  test("loads the page without the dialogs' code", async () => {
    page = await app.newPage();
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/organizations");
    const scripts = watchScripts(page);
    await page.reload({ waitUntil: "networkidle" });
    await page.getByText("Harbor Logistics").first().waitFor();
    const fetched = await scripts();
    expect(fetched.length).toBeGreaterThan(0);
    // Each request is CPU for the browser and the server while the page boots: small shared
    // modules ride in the app's chunk (12 scripts; 15 when each had its own file).
    expect(fetched.length).toBeLessThanOrEqual(12);
    expect(fetched.filter((s) => s.dialog).map((s) => s.url)).toEqual([]);
  }, 30_000);

  test("the first dialog opened fetches it and works: New organization, Escape, open again", async () => {
    const scripts = watchScripts(page);
    await page.click("[data-testid=new-org]");
    await page.locator("#org-name").waitFor();
    expect((await scripts()).some((s) => s.dialog)).toBe(true);
    await page.waitForFunction(() => document.activeElement?.id === "org-name" || !!document.activeElement?.closest("[role=dialog]"));
    await page.keyboard.press("Escape");
    await page.locator("#org-name").waitFor({ state: "detached" });
    await page.click("[data-testid=new-org]");
    await page.fill("#org-name", "Second Try");
    expect(await page.inputValue("[data-testid=slug-input]")).toBe("second-try");
    expect(errors).toEqual([]);
  }, 30_000);
});
