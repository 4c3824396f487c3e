import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { signInThroughUi, textOf } from "./support/flows";

/**
 * The agent form's external id (docs/integrations.md, "Before you start"): set when creating, shown
 * under the agent's name in the Agents table, changed in the edit dialog; an id another agent
 * already has, or one with a space, is refused beside the field and changes nothing.
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
await app.api.post("/api/organizations", { name: "Relay Partners", billing_rate_per_agent: "80.00" });
await app.api.post("/api/agents", { name: "Holder Bot", org_id: "relay-partners", external_id: "taken-runtime-id" });
let page: Page;

const row = (name: string) => page.locator(`[data-testid=agents-table] tr[data-agent='${name}']`);
const dialog = () => page.locator("[data-testid=agent-form]");
const agentNamed = async (name: string) => (await app.api.get(`/api/agents?q=${encodeURIComponent(name)}`)).body.agents.find((a: { name: string }) => a.name === name);

describe("the agent form's external id", () => {
  test("is set on creation and shown in the Agents table", async () => {
    page = await app.newPage({ width: 1280, height: 900 });
    const errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/agents");
    await row("Holder Bot").waitFor();
    await page.click("[data-testid=new-agent]");
    await dialog().waitFor();
    await page.fill("#agent-name", "Router Bot");
    await page.fill("#agent-external-id", "router-bot");
    await page.selectOption("#agent-org", "relay-partners");
    await page.click("text=Create agent");
    await dialog().waitFor({ state: "detached" });
    await row("Router Bot").waitFor();
    expect(await textOf(page, `tr[data-agent='Router Bot'] [data-field=external-id]`)).toBe("External id router-bot");
    expect(await agentNamed("Router Bot")).toMatchObject({ external_id: "router-bot" });
    expect(errors).toEqual([]);
  }, 30_000);

  test("is edited in the edit dialog, which opens with the current value", async () => {
    await row("Router Bot").locator("[data-testid=edit-agent]").click();
    await dialog().waitFor();
    expect(await page.inputValue("#agent-external-id")).toBe("router-bot");
    await page.fill("#agent-external-id", "router-bot-v2");
    await page.click("text=Save changes");
    await dialog().waitFor({ state: "detached" });
    await page.waitForSelector(`tr[data-agent='Router Bot'] [data-field=external-id]:has-text("router-bot-v2")`);
    expect(await agentNamed("Router Bot")).toMatchObject({ external_id: "router-bot-v2" });
  }, 30_000);

  test("an id another agent has, or one with a space, is refused beside the field and nothing changes", async () => {
    await row("Router Bot").locator("[data-testid=edit-agent]").click();
    await dialog().waitFor();
    await page.fill("#agent-external-id", "taken-runtime-id");
    await page.click("text=Save changes");
    await page.waitForSelector("[data-field-error=agent-external-id]");
    expect(await textOf(page, "[data-field-error=agent-external-id]")).toBe("is already used by another agent");
    expect(await page.getAttribute("#agent-external-id", "aria-invalid")).toBe("true");

    await page.fill("#agent-external-id", "has a space");
    await page.click("text=Save changes");
    await page.waitForSelector("[data-field-error=agent-external-id]:has-text('space')");
    expect(await dialog().isVisible()).toBe(true);
    await page.keyboard.press("Escape");
    await dialog().waitFor({ state: "detached" });
    expect(await agentNamed("Router Bot")).toMatchObject({ external_id: "router-bot-v2" });
    expect(await textOf(page, `tr[data-agent='Router Bot'] [data-field=external-id]`)).toBe("External id router-bot-v2");
  }, 30_000);
});
