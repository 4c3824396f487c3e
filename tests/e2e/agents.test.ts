import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { eventually, signInThroughUi } from "./support/flows";

/**
 * The Agents page in headless Chromium, against the real server and a fresh database: the edit
 * dialog (renaming, a server field error beside its field, archiving with its confirmation), then
 * paging past the first 100 agents and searching. The steps build on each other, in order.
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
await app.api.post("/api/organizations", { name: "Harbor Logistics", billing_rate_per_agent: "120.00" });
const triage = (await app.api.post("/api/agents", { name: "Triage Bot", email: "triage@harbor.example", org_id: "harbor-logistics" })).body;
await app.api.post("/api/agents", { name: "Billing Bot", org_id: "harbor-logistics" });
let page: Page;
let errors: string[];

const row = (name: string) => page.locator(`[data-testid=agents-table] tr[data-agent='${name}']`);
const dialog = () => page.locator("[data-testid=agent-form]");
const agentNow = async () => (await app.api.get(`/api/agents/${triage.id}`)).body;

async function openEdit(name: string) {
  await row(name).locator("[data-testid=edit-agent]").click();
  await dialog().waitFor();
}

describe("the Agents page", () => {
  test("the edit dialog opens filled in and saves a new name, email and description", async () => {
    page = await app.newPage();
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/agents");
    await row("Triage Bot").waitFor();
    await openEdit("Triage Bot");
    expect(await page.inputValue("#agent-name")).toBe("Triage Bot");
    expect(await page.inputValue("#agent-email")).toBe("triage@harbor.example");
    expect(await page.inputValue("#agent-status")).toBe("active");

    await page.fill("#agent-name", "Intake Bot");
    await page.fill("#agent-email", "intake@harbor.example");
    await page.fill("#agent-description", "Sorts incoming requests");
    await screenshot(page, "agent-edit-1280", { fullPage: false });
    await page.click("text=Save changes");
    await dialog().waitFor({ state: "detached" });
    await row("Intake Bot").waitFor();
    expect(await row("Triage Bot").count()).toBe(0);
    expect(await agentNow()).toMatchObject({ name: "Intake Bot", email: "intake@harbor.example", description: "Sorts incoming requests", status: "active" });
  }, 30_000);

  test("a name another active agent has is refused beside the name field, and nothing changes", async () => {
    await openEdit("Intake Bot");
    await page.fill("#agent-name", "Billing Bot");
    await page.click("text=Save changes");
    const fieldError = page.locator("[data-field-error=agent-name]");
    await fieldError.waitFor();
    expect(await fieldError.innerText()).toContain("already used by another active agent");
    expect(await page.getAttribute("#agent-name", "aria-invalid")).toBe("true");
    expect(await dialog().isVisible()).toBe(true);
    expect((await agentNow()).name).toBe("Intake Bot");

    await page.keyboard.press("Escape");
    await dialog().waitFor({ state: "detached" });
    // Opening it again starts clean: the agent's own values, no stale error.
    await openEdit("Intake Bot");
    expect(await page.inputValue("#agent-name")).toBe("Intake Bot");
    expect(await page.locator("[data-field-error=agent-name]").count()).toBe(0);
    await page.keyboard.press("Escape");
    await dialog().waitFor({ state: "detached" });
  }, 30_000);

  test("archiving asks first and says archived time is not billed; the agent is then archived in the list and through the API", async () => {
    await openEdit("Intake Bot");
    await page.selectOption("#agent-status", "archived");
    await page.click("text=Save changes");
    const confirm = page.locator("[data-testid=confirm-dialog]");
    await confirm.waitFor();
    const said = (await confirm.innerText()).replace(/\s+/g, " ");
    expect(said).toContain("archived time is not billed");
    expect(said).toContain("Harbor Logistics");
    // Nothing has changed until it is confirmed.
    expect((await agentNow()).status).toBe("active");

    await confirm.locator("[data-testid=confirm-button]").click();
    await confirm.waitFor({ state: "detached" });
    await dialog().waitFor({ state: "detached" });
    await eventually(() => row("Intake Bot").innerText(), (t) => t.includes("Archived"));
    expect(await agentNow()).toMatchObject({ name: "Intake Bot", status: "archived", effective_status: "archived" });

    await page.selectOption("select[aria-label=Status]", "archived");
    await eventually(
      () => page.locator("[data-testid=agents-table] tr[data-agent]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-agent"))),
      (names) => names.length === 1 && names[0] === "Intake Bot",
    );
  }, 30_000);

  test("past the first page of 100 agents, Load more appends the rest; a search narrows the list", async () => {
    for (let i = 1; i <= 100; i++) await app.api.post("/api/agents", { name: `Pool Agent ${String(i).padStart(3, "0")}` });
    await page.goto(app.base + "/agents");
    const rows = page.locator("[data-testid=agents-table] tr[data-agent]");
    await eventually(() => rows.count(), (n) => n === 100);
    await page.click("text=Load more");
    // 100 pool agents, Billing Bot and the archived Intake Bot.
    await eventually(() => rows.count(), (n) => n === 102);
    expect(await page.locator("text=Load more").count()).toBe(0);

    await page.fill("input[aria-label='Search agents']", "Pool Agent 040");
    await eventually(
      () => rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-agent"))),
      (names) => names.length === 1 && names[0] === "Pool Agent 040",
    );
  }, 60_000);

  test("no uncaught errors in the app along the way", () => {
    expect(errors).toEqual([]);
  });
});
