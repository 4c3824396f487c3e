import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import * as budgets from "../../server/modules/budgets/service";
import { makeUser } from "../support/access";
import { ctxFor } from "../support/actors";
import { screenshot, startApp } from "./support/app";
import { axeBlockers, expectNoBlockers } from "./support/axe";
import { watchErrors } from "./support/browser";
import { eventually, signInThroughUi, textOf } from "./support/flows";

/**
 * Budgets and alerts in the browser: a budget created on the organization's Budgets tab (server
 * errors beside their fields), spent past 100 % so that it alerts and suspends, the unread count in
 * the header, marking an alert read, lifting the suspension, editing a budget, an agent's budget
 * panel on the Agents page; screenshots and axe at 1280 and 390 px.
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
const org = (await app.api.post("/api/organizations", { name: "Budget Client", billing_rate_per_agent: "100.00" })).body;
const agents = await Promise.all(["Scout", "Ranger"].map(async (name) => (await app.api.post("/api/agents", { name, org_id: org.id })).body));
const month = new Date().toISOString().slice(0, 7);
/** What the `budgets.evaluate` job does after an ingestion (no job runner in browser tests). */
const evaluate = () => budgets.evaluate({ ...ctxFor(app.database), principal: { kind: "anonymous" } }, { orgId: org.id, month });
let page: Page;
let errors: string[];

describe("budgets in the web app", () => {
  test("a budget is created on the Budgets tab; a bad amount is refused beside its field", async () => {
    page = await app.newPage();
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, `/organizations/${org.slug}?tab=budgets`);
    await page.waitForSelector("[data-testid=org-budgets]");
    await page.waitForSelector("text=No budgets");

    await page.click("[data-testid=add-budget]");
    await page.fill("#budget-amount", "ten");
    await page.click("[data-testid=budget-form] button[type=submit]");
    expect(await textOf(page, "[data-field-error=budget-amount]")).toContain("decimal");

    await page.fill("#budget-amount", "10");
    await page.selectOption("#budget-action", "suspend");
    await page.click("[data-testid=budget-form] button[type=submit]");
    await page.waitForSelector("[data-budget='Budget Client (whole organization)']");
    expect(await textOf(page, "[data-budget='Budget Client (whole organization)'] [data-testid=budget-spend]")).toBe("$0.00 of $10.00");
    const listed = (await app.api.get(`/api/budgets?org=${org.id}`)).body.budgets;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ kind: "cost_usd", amount: "10.00", action_at_100: "suspend" });
  }, 60_000);

  test("spending past 100 % alerts and suspends; the header counts unread alerts; marking read and lifting work", async () => {
    const spent = await app.api.post("/api/usage", { events: [{ id: "e2e-budget-1", agent_id: agents[0].id, model: "e2e-model", input_tokens: 10, output_tokens: 10, cost_usd: "12" }] });
    expect(spent.body.accepted).toBe(1);
    await evaluate();
    await page.reload();
    const card = "[data-budget='Budget Client (whole organization)']";
    await page.waitForSelector(`${card} >> text=Agents suspended`);
    expect(await textOf(page, `${card} [data-testid=budget-spend]`)).toBe("$12.00 of $10.00");
    expect(await textOf(page, `${card} [data-testid=budget-used]`)).toBe("120.0% used");
    expect(await textOf(page, "[data-testid=alerts-unread]")).toBe("3");
    const agent = (await app.api.get(`/api/agents/${agents[1].id}`)).body;
    expect([agent.effective_status, agent.suspension_reason]).toEqual(["suspended", "budget"]);

    // The organization is a modal over the grid: close it, then follow the header's bell.
    await page.keyboard.press("Escape");
    await page.locator("[data-testid=org-detail]").waitFor({ state: "detached" });
    await page.click("[data-testid=alerts-bell]");
    await page.waitForURL(/\/alerts$/);
    await page.waitForSelector("[data-testid=alerts-list]");
    expect(await page.locator("[data-testid=alerts-list] li").count()).toBe(3);
    await page.locator("[data-testid=mark-read]").first().click();
    await eventually(() => textOf(page, "[data-testid=alerts-unread]"), (t) => t === "2");
    expect((await app.api.get("/api/alerts?unread=true")).body.unread_count).toBe(2);

    await page.goto(`${app.base}/organizations/${org.slug}?tab=budgets`);
    await page.click("[data-testid=lift-suspension]");
    await page.locator(`${card} >> text=Agents suspended`).waitFor({ state: "detached" });
    const lifted = (await app.api.get(`/api/agents/${agents[1].id}`)).body;
    expect([lifted.effective_status, lifted.suspension_reason]).toEqual(["active", null]);
    expect(errors).toEqual([]);
  }, 60_000);

  test("a budget is edited on the Budgets tab: a bad threshold beside its field, nothing saved; lowering it to suspend says so first", async () => {
    const card = "[data-budget='Budget Client (whole organization)']";
    await page.goto(`${app.base}/organizations/${org.slug}?tab=budgets`);
    await page.click(`${card} [data-testid=edit-budget]`);
    const dialog = page.locator("[data-testid=budget-dialog]");
    await dialog.waitFor();
    expect(await dialog.locator("[data-testid=budget-dialog-amount]").inputValue()).toBe("10.00");
    await dialog.locator("[data-testid=budget-dialog-amount]").fill("20");
    await dialog.locator("[data-testid=budget-dialog-thresholds]").fill("50, 150");
    await dialog.locator("button[type=submit]").click();
    expect(await textOf(page, "[data-testid=budget-dialog] [data-field-error$=-thresholds]")).toContain("at most 100");
    expect((await app.api.get(`/api/budgets?org=${org.id}`)).body.budgets[0]).toMatchObject({ amount: "10.00", thresholds_pct: [50, 80, 100] });

    // Raised to 20.00 with alerts at 90 and 100 %, alert only: saved, shown, the same through the API.
    await dialog.locator("[data-testid=budget-dialog-thresholds]").fill("90, 100");
    await dialog.locator("[data-testid=budget-dialog-action]").selectOption("notify");
    await dialog.locator("button[type=submit]").click();
    await dialog.waitFor({ state: "detached" });
    await eventually(() => textOf(page, `${card} [data-testid=budget-spend]`), (t) => t === "$12.00 of $20.00");
    expect((await app.api.get(`/api/budgets?org=${org.id}`)).body.budgets[0]).toMatchObject({ amount: "20.00", thresholds_pct: [90, 100], action_at_100: "notify", suspended: false });

    // Lowering it below this month's spend with "suspend" warns before saving and names it on the button.
    await page.click(`${card} [data-testid=edit-budget]`);
    await dialog.waitFor();
    await dialog.locator("[data-testid=budget-dialog-amount]").fill("11");
    await dialog.locator("[data-testid=budget-dialog-action]").selectOption("suspend");
    expect(await textOf(page, "[data-testid=budget-dialog-warning]")).toContain("suspends the budget's agents");
    expect(await dialog.locator("button[type=submit]").textContent()).toContain("Save and suspend agents");
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 1200 : 900 });
      expectNoBlockers(await axeBlockers(page, `budget edit dialog at ${width}`));
      await screenshot(page, `budget-edit-${width}`, { fullPage: false });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    expect((await app.api.get(`/api/budgets?org=${org.id}`)).body.budgets[0].amount).toBe("20.00");
    expect(errors).toEqual([]);
  }, 60_000);

  test("an agent's budget panel on the Agents page: none yet, create one (a bad amount first), edit it, remove it after a confirmation", async () => {
    await page.goto(`${app.base}/agents`);
    await page.click("[data-agent=Scout] [data-testid=agent-budget]");
    const panel = page.locator("[data-testid=agent-budget-dialog]");
    await panel.waitFor();
    await panel.locator("text=No budget on this agent").waitFor();
    await panel.locator("[data-testid=agent-add-budget]").click();
    const form = page.locator("[data-testid=budget-dialog]");
    await form.waitFor();
    await form.locator("[data-testid=budget-dialog-amount]").fill("-5");
    await form.locator("button[type=submit]").click();
    expect(await textOf(page, "[data-testid=budget-dialog] [data-field-error$=-amount]")).toBeTruthy();
    expect((await app.api.get(`/api/budgets?agent=${agents[0].id}`)).body.budgets).toEqual([]);
    await form.locator("[data-testid=budget-dialog-amount]").fill("30");
    await form.locator("button[type=submit]").click();
    await form.waitFor({ state: "detached" });
    // Scout has spent 12.00 of it this month.
    await eventually(() => textOf(page, "[data-testid=agent-budget-dialog] [data-testid=budget-spend]"), (t) => t === "$12.00 of $30.00");
    expect(await textOf(page, "[data-testid=agent-budget-dialog] [data-testid=budget-used]")).toBe("40.0% used");
    expect((await app.api.get(`/api/budgets?agent=${agents[0].id}`)).body.budgets[0]).toMatchObject({ kind: "cost_usd", amount: "30.00", agent_id: agents[0].id });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 1200 : 900 });
      expectNoBlockers(await axeBlockers(page, `agent budget panel at ${width}`));
      await screenshot(page, `agent-budget-${width}`, { fullPage: false });
    }
    await page.setViewportSize({ width: 1280, height: 900 });

    await panel.locator("[data-testid=edit-budget]").click();
    await form.waitFor();
    await form.locator("[data-testid=budget-dialog-amount]").fill("60");
    await form.locator("button[type=submit]").click();
    await form.waitFor({ state: "detached" });
    await eventually(() => textOf(page, "[data-testid=agent-budget-dialog] [data-testid=budget-spend]"), (t) => t === "$12.00 of $60.00");

    await panel.locator("[data-testid=remove-budget]").click();
    const confirm = page.locator("[data-testid=confirm-dialog]");
    await expect(confirm.textContent()).resolves.toContain("stops counting");
    await confirm.getByRole("button", { name: "Remove budget" }).click();
    await panel.locator("text=No budget on this agent").waitFor();
    expect((await app.api.get(`/api/budgets?agent=${agents[0].id}`)).body.budgets).toEqual([]);
    await page.keyboard.press("Escape");
    expect(errors).toEqual([]);
  }, 60_000);

  test("screenshots of the Budgets tab and the alerts at 1280 px and 390 px, without accessibility blockers", async () => {
    // A second budget, on one agent, for the screenshots.
    await app.api.post("/api/budgets", { agent_id: agents[1].id, kind: "margin_floor_pct", amount: "40", thresholds_pct: [80, 100] });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 1200 : 900 });
      await page.goto(`${app.base}/organizations/${org.slug}?tab=budgets`);
      await page.waitForSelector("[data-budget=Ranger]");
      await page.mouse.move(0, 0);
      await screenshot(page, `org-budgets-${width}`, { fullPage: false });
      expectNoBlockers(await axeBlockers(page, `budgets tab at ${width}`));
      await page.goto(`${app.base}/alerts`);
      await page.waitForSelector("[data-testid=alerts-list]");
      await screenshot(page, `alerts-${width}`);
      expectNoBlockers(await axeBlockers(page, `alerts at ${width}`));
      // Nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    }
  }, 60_000);
});
