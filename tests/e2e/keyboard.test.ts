import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { eventually } from "./support/flows";

/**
 * The console with a keyboard only: no click, no `fill`, nothing but keys pressed and text typed.
 * A staff member signs in, creates an organization, assigns an agent to it from another
 * organization, sets the agent's custom rate and deactivates the organization. Every control the
 * flow lands on shows a visible focus indicator (`:focus-visible`).
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
await app.api.post("/api/organizations", { name: "Harbor Logistics", billing_rate_per_agent: "120.00" });
const agent = (await app.api.post("/api/agents", { name: "Dispatch Bot", org_id: "harbor-logistics" })).body;
let page: Page;
let errors: string[];

/** What has the focus, for messages: its tag, test id, name or text. */
const focused = () =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) return "nothing";
    return `${el.tagName.toLowerCase()}[${el.getAttribute("data-testid") ?? el.getAttribute("aria-label") ?? el.id ?? ""}] "${(el.innerText ?? "").trim().slice(0, 40)}"`;
  });

/**
 * Presses Tab (or Shift+Tab) until the focused element matches `selector`, as a person tabs to a
 * control, then checks that its focus is visible. Fails when it is not reached within `max` presses.
 */
async function tabTo(selector: string, { back = false, max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const state = await page.evaluate((s) => {
      const el = document.activeElement;
      return el?.matches(s) ? (el.matches(":focus-visible") ? "visible" : "invisible") : "no";
    }, selector);
    if (state === "visible") return;
    if (state === "invisible") throw new Error(`${selector} has the focus but shows no focus indicator`);
  }
  throw new Error(`${selector} not reached with ${max} × ${back ? "Shift+Tab" : "Tab"}; the focus is on ${await focused()}`);
}

const focusIs = async (selector: string) => expect(await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)).toBe(true);

describe("the console with the keyboard only", () => {
  test("sign in: type, Tab, type, Enter", async () => {
    page = await app.newPage();
    errors = watchErrors(page);
    await page.goto(app.base + "/login");
    await page.waitForSelector("#email:focus");
    await page.keyboard.type(owner.email);
    await page.keyboard.press("Tab");
    await focusIs("#password");
    await page.keyboard.type(owner.password);
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=user-menu]");
  }, 30_000);

  test("create an organization: to Organizations, New organization, the form, Enter", async () => {
    await tabTo("a[href='/organizations']");
    await page.keyboard.press("Enter");
    await page.waitForURL("**/organizations");
    await tabTo("[data-testid=new-org]");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#org-name");
    await tabTo("#org-name");
    await page.keyboard.type("Keyboard Works");
    await tabTo("#org-rate");
    await page.keyboard.type("80");
    await tabTo("#org-currency");
    // A closed select changes its choice with the arrow keys.
    while ((await page.inputValue("#org-currency")) !== "EUR") await page.keyboard.press("ArrowDown");
    await tabTo("#org-rate", { back: true });
    await page.keyboard.press("Enter");
    await page.waitForURL("**/organizations/keyboard-works");
    await page.waitForSelector("[data-testid=org-detail] >> text=No agents in Keyboard Works");
    expect((await app.api.get("/api/organizations/keyboard-works")).body).toMatchObject({ name: "Keyboard Works", billing_rate_per_agent: "80.00", currency: "EUR", is_active: true });
  }, 30_000);

  test("assign an agent: Assign agent, search, pick it, confirm the move", async () => {
    await tabTo("[data-testid=assign-agent]");
    await page.keyboard.press("Enter");
    // The picker's search box takes the focus when it opens.
    await page.waitForSelector("[data-testid=assign-picker] input[type=search]:focus");
    await page.keyboard.type("dispatch");
    await eventually(() => page.locator("[data-testid=assign-option]").count(), (n) => n === 1);
    await tabTo("[data-testid=assign-option][data-agent='Dispatch Bot']");
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=confirm-dialog] >> text=Harbor Logistics");
    await tabTo("[data-testid=confirm-button]");
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=org-agents] tr[data-agent='Dispatch Bot']");
    expect((await app.api.get(`/api/agents/${agent.id}`)).body).toMatchObject({ org_slug: "keyboard-works", effective_rate: "80.00", rate_source: "default" });
  }, 30_000);

  test("set a custom rate: to the agent's rate, type it, Enter", async () => {
    const row = page.locator("[data-testid=org-agents] tr[data-agent='Dispatch Bot']");
    await tabTo("[data-testid=org-agents] tr[data-agent='Dispatch Bot'] [data-testid=rate-input]");
    await page.keyboard.type("42.50");
    await page.keyboard.press("Enter");
    await eventually(() => row.locator("[data-testid=rate-source]").innerText(), (t) => t.trim() === "custom");
    expect((await app.api.get(`/api/agents/${agent.id}`)).body).toMatchObject({ billing_rate: "42.50", effective_rate: "42.50", rate_source: "custom" });
  }, 30_000);

  test("deactivate the organization: Deactivate, read the consequence, confirm", async () => {
    await tabTo("[data-testid=detail-toggle]", { back: true });
    await page.keyboard.press("Enter");
    const confirm = page.locator("[data-testid=confirm-dialog]");
    await confirm.waitFor();
    expect((await confirm.innerText()).replace(/\s+/g, " ")).toContain("1 agent will be suspended");
    await tabTo("[data-testid=confirm-button]");
    await page.keyboard.press("Enter");
    await eventually(() => page.locator("[data-testid=org-agents] tr[data-agent='Dispatch Bot']").innerText(), (t) => t.includes("Suspended"));
    expect((await app.api.get("/api/organizations/keyboard-works")).body.is_active).toBe(false);
    expect((await app.api.get(`/api/agents/${agent.id}`)).body).toMatchObject({ effective_status: "suspended", billing_rate: "42.50" });
  }, 30_000);

  test("Escape closes the organization and returns to the grid, which shows it inactive", async () => {
    await page.keyboard.press("Escape");
    await page.waitForURL("**/organizations");
    await page.locator("[data-testid=org-detail]").waitFor({ state: "detached" });
    await page.waitForSelector("[data-testid=org-card][data-slug=keyboard-works] >> text=Inactive");
  }, 30_000);

  test("no uncaught errors along the way", () => {
    expect(errors).toEqual([]);
  });
});
