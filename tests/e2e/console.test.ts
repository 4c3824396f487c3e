import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { eventually, signInThroughUi, textOf } from "./support/flows";

/**
 * The staff console end to end in headless Chromium, against the real server and a fresh
 * database: first-run setup, sign-in, the organization lifecycle and what a bound user sees.
 * The steps build on each other, in order.
 */
const app = await startApp();
const OWNER = { email: "owner@orgdesk.example", password: "correct horse battery" };
let page: Page;
let errors: string[];

describe("staff console", () => {
  test("first run: the app asks for the owner account, creates it and signs in", async () => {
    page = await app.newPage();
    errors = watchErrors(page);
    await page.goto(app.base + "/organizations");
    await page.waitForURL("**/setup");
    await page.fill("#email", OWNER.email);
    await page.fill("#password", OWNER.password);
    await page.fill("#confirm", OWNER.password);
    await page.click("button[type=submit]");
    await page.waitForURL(app.base + "/");
    await page.click("[data-testid=user-menu]");
    expect(await textOf(page, "[data-testid=signed-in-as]")).toBe(OWNER.email);
    // Setup is one-time: the page now sends visitors to sign in.
    const status = await app.api.get("/trpc/auth.setupStatus");
    expect(status.body.result.data.setup_required).toBe(false);
  }, 30_000);

  test("signing out ends the session; a wrong password is refused; the right one signs in", async () => {
    await page.click("text=Sign out");
    await page.waitForURL("**/login");
    // The organizations page, drawn at build time before anyone is known, sends a visitor to sign in too.
    await page.goto(app.base + "/organizations");
    await page.waitForURL(/\/login\?next=%2Forganizations/);
    expect(await page.locator("[data-testid=org-card]").count()).toBe(0);
    await page.goto(app.base + "/agents");
    await page.waitForURL(/\/login\?next=%2Fagents/);
    await page.fill("#email", OWNER.email);
    await page.fill("#password", "not the password");
    await page.click("button[type=submit]");
    expect(await textOf(page, "[data-testid=login-error]")).toContain("incorrect");
    await page.fill("#password", OWNER.password);
    await page.click("button[type=submit]");
    await page.waitForURL(app.base + "/agents");
  }, 30_000);

  test("creating an organization previews the slug and shows a server validation error beside its field", async () => {
    await page.goto(app.base + "/organizations");
    await page.click("[data-testid=new-org]");
    await page.fill("#org-name", "Zürich Ünïted Café");
    expect(await page.inputValue("[data-testid=slug-input]")).toBe("zurich-united-cafe");
    await page.fill("#org-contact-email", "not-an-email");
    await page.fill("#org-rate", "99");
    await page.selectOption("#org-currency", "EUR");
    await page.click("text=Create organization");
    const fieldError = page.locator("[data-field-error=org-contact-email]");
    await fieldError.waitFor();
    expect(await fieldError.innerText()).toContain("valid email");
    expect(await page.getAttribute("#org-contact-email", "aria-invalid")).toBe("true");
    expect((await app.api.get("/api/organizations?q=zurich")).body.organizations).toHaveLength(0);

    await page.fill("#org-contact-email", "ops@zurich.example");
    await page.click("text=Create organization");
    await page.waitForURL("**/organizations/zurich-united-cafe");
    await page.waitForSelector("[data-testid=org-detail] >> text=Zürich Ünïted Café");
    const created = await app.api.get("/api/organizations/zurich-united-cafe");
    expect(created.body).toMatchObject({ slug: "zurich-united-cafe", currency: "EUR", billing_rate_per_agent: "99.00", contact_email: "ops@zurich.example" });
  }, 30_000);

  test("assigning an agent from another organization asks first, labels where it is, and clears its custom rate", async () => {
    await app.api.post("/api/organizations", { name: "Acme Freight", billing_rate_per_agent: "150.00" });
    const agent = (await app.api.post("/api/agents", { name: "Dispatch Bot", org_id: "acme-freight" })).body;
    await app.api.patch(`/api/agents/${agent.id}`, { billingRate: "175.00" });
    await app.api.post("/api/agents", { name: "Pool Helper" });

    await page.click("[data-testid=assign-agent]");
    const option = page.locator("[data-testid=assign-option][data-agent='Dispatch Bot']");
    await option.waitFor();
    expect(await option.locator("[data-testid=assign-label]").innerText()).toBe("[from Acme Freight]");
    expect(await page.locator("[data-testid=assign-option][data-agent='Pool Helper'] [data-testid=assign-label]").innerText()).toBe("[from Internal]");
    await page.fill("[data-testid=assign-picker] input[type=search]", "dispatch");
    expect(await page.locator("[data-testid=assign-option]").count()).toBe(1);
    await option.click();

    const confirm = page.locator("[data-testid=confirm-dialog]");
    await confirm.waitFor();
    const said = (await confirm.innerText()).replace(/\s+/g, " ");
    expect(said).toContain("Acme Freight");
    expect(said).toContain("custom rate clears");
    await confirm.locator("[data-testid=confirm-button]").click();
    await page.waitForSelector("[data-testid=org-agents] tr[data-agent='Dispatch Bot']");

    const moved = (await app.api.get(`/api/agents/${agent.id}`)).body;
    expect(moved).toMatchObject({ org_slug: "zurich-united-cafe", billing_rate: null, rate_source: "default", effective_rate: "99.00" });
  }, 30_000);

  test("a custom rate is saved on Enter and cleared by emptying the field", async () => {
    const row = page.locator("[data-testid=org-agents] tr[data-agent='Dispatch Bot']");
    const input = row.locator("[data-testid=rate-input]");
    await input.fill("42.50");
    await input.press("Enter");
    await eventually(() => row.locator("[data-testid=rate-source]").innerText(), (t) => t.trim() === "custom");
    const agentId = (await app.api.get("/api/agents?q=Dispatch")).body.agents[0].id;
    expect((await app.api.get(`/api/agents/${agentId}`)).body).toMatchObject({ billing_rate: "42.50", effective_rate: "42.50", rate_source: "custom" });

    await input.fill("");
    await input.press("Tab");
    await eventually(() => row.locator("[data-testid=rate-source]").innerText(), (t) => t.startsWith("default"));
    expect((await app.api.get(`/api/agents/${agentId}`)).body).toMatchObject({ billing_rate: null, effective_rate: "99.00", rate_source: "default" });
  }, 30_000);

  test("deactivating says the agents will be suspended, and they are", async () => {
    await page.click("[data-testid=detail-toggle]");
    const confirm = page.locator("[data-testid=confirm-dialog]");
    await confirm.waitFor();
    expect((await confirm.innerText()).replace(/\s+/g, " ")).toContain("1 agent will be suspended");
    await confirm.locator("[data-testid=confirm-button]").click();
    const row = page.locator("[data-testid=org-agents] tr[data-agent='Dispatch Bot']");
    await eventually(() => row.innerText(), (t) => t.includes("Suspended"));
    const agents = (await app.api.get("/api/agents?org=zurich-united-cafe")).body.agents;
    expect(agents.map((a: { effective_status: string }) => a.effective_status)).toEqual(["suspended"]);
    expect((await app.api.get("/api/organizations/zurich-united-cafe")).body.is_active).toBe(false);
  }, 30_000);

  test("delete is refused while agents remain, then needs the typed slug and offers the export first", async () => {
    await page.click("[data-testid=detail-delete]");
    let confirm = page.locator("[data-testid=confirm-dialog]");
    await confirm.locator("[data-testid=delete-blocked]").waitFor();
    expect(await confirm.locator("[data-testid=confirm-button]").isDisabled()).toBe(true);
    await page.keyboard.press("Escape");
    await confirm.waitFor({ state: "detached" });

    await page.locator("[data-testid=org-agents] tr[data-agent='Dispatch Bot'] [data-testid=unassign]").click();
    confirm = page.locator("[data-testid=confirm-dialog]");
    expect((await confirm.innerText()).replace(/\s+/g, " ")).toContain("internal pool");
    await confirm.locator("[data-testid=confirm-button]").click();
    await page.waitForSelector("text=No agents in Zürich Ünïted Café");

    await page.click("[data-testid=detail-delete]");
    confirm = page.locator("[data-testid=confirm-dialog]");
    await confirm.locator("[data-testid=delete-confirm-input]").waitFor();
    expect((await confirm.innerText()).replace(/\s+/g, " ")).toContain("permanent");
    expect(await confirm.locator("[data-testid=delete-export]").isVisible()).toBe(true);
    const button = confirm.locator("[data-testid=confirm-button]");
    expect(await button.isDisabled()).toBe(true);
    await confirm.locator("[data-testid=delete-confirm-input]").fill("zurich-united");
    expect(await button.isDisabled()).toBe(true);
    await confirm.locator("[data-testid=delete-confirm-input]").fill("zurich-united-cafe");
    expect(await button.isDisabled()).toBe(false);
    await button.click();
    await page.waitForURL(app.base + "/organizations");
    await eventually(() => page.locator("[data-testid=org-card][data-slug='zurich-united-cafe']").count(), (n) => n === 0);
    expect((await app.api.get("/api/organizations/zurich-united-cafe")).status).toBe(404);
  }, 30_000);

  test("a user bound to one organization sees only it, with the switcher locked and no cost or margin", async () => {
    const bound = (await app.api.post("/api/organizations", { name: "Bound Client", billing_rate_per_agent: "60.00" })).body;
    await app.api.post("/api/agents", { name: "Client Agent", org_id: bound.id });
    const viewer = await makeUser(app.database, "viewer", bound.id);

    await app.browser.context.clearCookies();
    const other = await app.newPage();
    await signInThroughUi(other, app.base, viewer.email, viewer.password, "/organizations");
    expect(await textOf(other, "[data-testid=org-switcher-locked]")).toContain("Bound Client");
    expect(await other.locator("[data-testid=org-switcher]").count()).toBe(0);
    await other.waitForSelector("[data-testid=org-card]");
    const slugs = await other.locator("[data-testid=org-card]").evaluateAll((els) => els.map((e) => e.getAttribute("data-slug")));
    expect(slugs).toEqual(["bound-client"]);
    expect(await other.locator("text=Margin MTD").count()).toBe(0);
    expect(await other.locator("[data-testid=new-org]").count()).toBe(0);

    await other.click("[data-testid=org-card][data-slug=bound-client] h2 a");
    await other.waitForSelector("[data-testid=org-agents] tr[data-agent='Client Agent']");
    expect(await other.locator("[data-testid=assign-agent]").count()).toBe(0);
    await other.click("[data-testid=tab-billing]");
    await other.waitForSelector("[data-testid=total-revenue]");
    expect(await other.locator("[data-testid=total-cost]").count()).toBe(0);
    expect(await other.locator("[data-testid=total-margin]").count()).toBe(0);
    const body = await other.locator("[data-testid=org-detail]").innerText();
    expect(body).not.toContain("Token cost");
    expect(body).not.toContain("Margin");
    await other.close();
  }, 30_000);

  test("an organization that does not exist says so, and Try again asks the server again", async () => {
    await page.goto(app.base + "/organizations/no-such-organization");
    const failed = page.locator("[data-testid=org-detail] [role=alert]");
    await failed.waitFor();
    expect(await failed.innerText()).toContain("not found");
    let asked = 0;
    page.on("request", (r) => {
      if (r.url().includes("orgs.get")) asked++;
    });
    await failed.getByRole("button", { name: "Try again" }).click();
    await eventually(async () => asked, (n) => n === 1);
    await failed.waitFor();
  }, 30_000);

  test("after signing out, the next user of the same tab never sees what the previous one loaded", async () => {
    const viewer = await makeUser(app.database, "viewer", (await app.api.get("/api/organizations/bound-client")).body.id);
    // The owner again (the previous test signed the browser in as the bound user), on the grid.
    await app.browser.context.clearCookies();
    await signInThroughUi(page, app.base, OWNER.email, OWNER.password, "/organizations");
    await page.waitForSelector("[data-testid=org-card][data-slug=acme-freight]");
    // Every organization card ever drawn from now on, however briefly.
    await page.evaluate(() => {
      const w = window as unknown as { seen: Set<string> };
      w.seen = new Set();
      new MutationObserver(() => document.querySelectorAll("[data-testid=org-card]").forEach((c) => w.seen.add(c.getAttribute("data-slug")!))).observe(document.body, { subtree: true, childList: true });
    });
    await page.click("[data-testid=user-menu]");
    await page.click("text=Sign out");
    await page.waitForURL("**/login");
    await page.evaluate(() => (window as unknown as { seen: Set<string> }).seen.clear());
    // The same document (no reload): whatever the app kept in memory would show now.
    await page.fill("#email", viewer.email);
    await page.fill("#password", viewer.password);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=org-switcher-locked]");
    await page.click("a[href='/organizations'] >> visible=true");
    await page.waitForSelector("[data-testid=org-card][data-slug=bound-client]");
    expect(await page.evaluate(() => [...(window as unknown as { seen: Set<string> }).seen])).toEqual(["bound-client"]);
  }, 30_000);

  test("no uncaught errors in the app along the way", () => {
    expect(errors).toEqual([]);
  });
});
