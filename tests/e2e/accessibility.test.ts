import { describe, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { startApp } from "./support/app";
import { launchBrowser } from "./support/browser";
import { type Blocker, axeBlockers, expectNoBlockers } from "./support/axe";
import { seedDemoWithUsage } from "./support/demo-usage";
import { signInThroughUi } from "./support/flows";

/**
 * axe-core on every screen of the console, at desktop (1280 px) and phone (390 px) widths, with
 * each dialog, menu and picker open: no serious or critical violation. The demo data with a year
 * of usage fills every screen (charts, tables, badges, warnings).
 */
const app = await startApp();
await seedDemoWithUsage(app.database, app.api);
const owner = await makeUser(app.database, "owner");
const agenticmail = (await app.api.get("/api/organizations/agenticmail")).body;
const boundViewer = await makeUser(app.database, "viewer", agenticmail.id);
// An OpenTelemetry span that waited for its agent for an hour: the Integrations page lists its trace.
await app.database.db.execute(
  sql`insert into otel_pending_spans (trace_id, span_id, event, received_at) values ('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7',
      ${JSON.stringify({ id: "otel:4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7", model: "gpt-4o", provider: "openai", occurred_at: new Date().toISOString(), input_tokens: 900, output_tokens: 120, cache_read_tokens: 0, cache_write_tokens: 0 })},
      now() - interval '1 hour')`,
);
// A budget far above any spend (it never alerts) for the Budgets tab, its Edit dialog and an agent's budget panel.
const [budgeted, unbudgeted] = (await app.api.get(`/api/agents?org=${agenticmail.id}`)).body.agents;
await app.api.post("/api/budgets", { agent_id: budgeted.id, kind: "cost_usd", amount: "100000", action_at_100: "notify" });

const WIDTHS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
];

/** Visits screens and opens dialogs, collecting what axe finds on each. */
function walker(page: Page, width: number) {
  const found: Blocker[] = [];
  const check = async (screen: string, within?: string) => found.push(...(await axeBlockers(page, `${screen} @${width}`, within)));
  /** Opens `path`, waits for `ready` and for every skeleton to go, and checks it (or only `within`). */
  const visit = async (path: string, ready: string, screen = path, within?: string) => {
    await page.goto(app.base + path);
    await page.waitForSelector(ready);
    await page.waitForFunction(() => !document.querySelector("main .animate-pulse"));
    await check(screen, within);
  };
  const openDialogs = () => page.evaluate(() => document.querySelectorAll("[role=dialog][data-state=open]").length);
  /** Opens a dialog with `open` (over any already open), checks the page with it open, and closes it with Escape. */
  const dialog = async (screen: string, open: () => Promise<unknown>) => {
    const before = await openDialogs();
    await open();
    await page.waitForFunction((n) => document.querySelectorAll("[role=dialog][data-state=open]").length > n, before);
    await check(screen, "[role=dialog][data-state=open]");
    await page.keyboard.press("Escape");
    await page.waitForFunction((n) => document.querySelectorAll("[role=dialog]").length === n, before);
  };
  return { found, check, visit, dialog };
}

/**
 * One width's walk through every screen, in its own browser (cookies included): the two widths
 * run side by side.
 */
async function walk(size: { width: number; height: number }): Promise<Blocker[]> {
  const browser = await launchBrowser({ viewport: size });
  const context = browser.context;
  const page = await context.newPage();
  try {
    const { found, check, visit, dialog } = walker(page, size.width);

    await page.goto(app.base + "/login");
    await page.waitForSelector("#email");
    await check("sign-in");
    await page.fill("#email", owner.email);
    await page.fill("#password", "wrong password");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=login-error]");
    await check("sign-in with an error");
    await signInThroughUi(page, app.base, owner.email, owner.password, "/");

    await visit("/", "[data-testid=revenue-cost-chart] svg", "dashboard");
    // Menus and the organization's dialog are checked by themselves: the page behind them was checked already.
    await page.click("[data-testid=user-menu]");
    await check("account menu", "[data-dropdown-panel]");
    await page.keyboard.press("Escape");
    await page.click("[data-testid=org-switcher]");
    await page.waitForSelector("[data-testid=org-switcher-list] button >> nth=1");
    await check("organization switcher", "[data-dropdown-panel]");
    await page.keyboard.press("Escape");
    if (size.width < 768) {
      await page.click("button[aria-controls=mobile-nav]");
      await page.waitForSelector("#mobile-nav");
      await check("phone menu", "#mobile-nav");
      await page.click("button[aria-controls=mobile-nav]");
    }

    await visit("/organizations", "[data-testid=org-card]", "organizations");
    await dialog("new organization", async () => {
      await page.click("[data-testid=new-org]");
      await page.waitForSelector("#org-contact-email");
      await page.fill("#org-contact-email", "not an email");
      await page.click("text=Create organization");
      await page.waitForSelector("[data-field-error]");
    });
    const card = page.locator("[data-testid=org-card][data-slug=agenticmail]");
    await dialog("edit organization", () => card.getByRole("button", { name: /^Edit/ }).click());
    await dialog("deactivate organization", () => card.locator("[data-testid=toggle-org]").click());
    await dialog("delete organization", () => card.locator("[data-testid=delete-org]").click());

    await visit("/organizations/agenticmail", "[data-testid=org-agents]", "organization: agents", "[data-testid=org-detail]");
    await page.click("[data-testid=assign-agent]");
    await page.waitForSelector("[data-testid=assign-option]");
    await check("organization: assign picker", "[data-testid=assign-picker]");
    await dialog("move an agent", () => page.locator("[data-testid=assign-option]").first().click());
    await dialog("unassign an agent", () => page.locator("[data-testid=unassign]").first().click());
    await visit("/organizations/agenticmail?tab=billing", "[data-testid=revenue-cost-chart] svg", "organization: billing", "[data-testid=org-detail]");
    await page.fill("#what-if-rate", "150");
    await page.click("[data-testid=what-if-compare]");
    await page.waitForSelector("[data-testid=what-if-figures]");
    await check("organization: billing what-if", "[data-testid=what-if]");
    await visit("/organizations/agenticmail?tab=invoices", "[data-testid=usage-markup] form", "organization: invoices", "[data-testid=org-detail]");
    // A refused markup: nothing is saved, so the two widths running side by side do not meet.
    await page.check("[data-testid=markup-on]");
    await page.fill("[data-testid=markup-pct]", "-1");
    await page.locator("[data-testid=usage-markup]").getByRole("button", { name: "Save" }).click();
    await page.waitForSelector("[data-field-error=usage-markup-pct]");
    await check("organization: usage markup with an error", "[data-testid=usage-markup]");

    await visit("/organizations/agenticmail?tab=budgets", "[data-testid=edit-budget]", "organization: budgets", "[data-testid=org-detail]");
    // A refused threshold: nothing is saved, so the two widths running side by side do not meet.
    await dialog("edit budget with an error", async () => {
      await page.locator("[data-testid=edit-budget]").first().click();
      await page.fill("[data-testid=budget-dialog-thresholds]", "0");
      await page.locator("[data-testid=budget-dialog] button[type=submit]").click();
      await page.waitForSelector("[data-testid=budget-dialog] [data-field-error]");
    });
    await dialog("remove budget", () => page.locator("[data-testid=remove-budget]").first().click());

    await visit("/agents", "[data-testid=agents-table]", "agents");
    await dialog("new agent", () => page.click("[data-testid=new-agent]"));
    await dialog("edit agent", () => page.locator("[data-testid=edit-agent]").first().click());
    await dialog("agent budget panel", async () => {
      await page.locator(`[data-agent="${budgeted.name}"] [data-testid=agent-budget]`).click();
      await page.waitForSelector("[data-testid=agent-budget-dialog] [data-testid=budget-spend]");
    });
    await page.locator(`[data-agent="${unbudgeted.name}"] [data-testid=agent-budget]`).click();
    await page.waitForSelector("[data-testid=agent-add-budget]");
    await check("agent budget panel without a budget", "[role=dialog][data-state=open]");
    await dialog("agent budget: new budget with an error", async () => {
      await page.click("[data-testid=agent-add-budget]");
      await page.fill("[data-testid=budget-dialog-amount]", "ten");
      await page.locator("[data-testid=budget-dialog] button[type=submit]").click();
      await page.waitForSelector("[data-testid=budget-dialog] [data-field-error]");
    });
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => document.querySelectorAll("[role=dialog]").length === 0);

    await visit("/settings/prices", "table", "settings: model prices");
    await dialog("new model price", () => page.getByRole("button", { name: "Add price" }).click());
    await visit("/settings/fx", "main section", "settings: FX rates");
    await dialog("new FX rate", () => page.getByRole("button", { name: "Add rate" }).first().click());
    await visit("/settings/users", "table", "settings: users");
    await dialog("new user", () => page.getByRole("button", { name: "Add user" }).click());
    await visit("/settings/keys", "[data-testid=new-key]", "settings: API keys");
    await page.click("[data-testid=new-key]");
    await page.fill("#key-name", `Finance export ${size.width}`);
    await check("new API key", "[role=dialog]");
    await page.click("text=Create key");
    await page.waitForSelector("[data-testid=new-key-secret]");
    await check("new API key shown once", "[role=dialog]");
    await page.click("text=I have stored it");
    await page.waitForSelector("[data-testid=new-key-secret]", { state: "detached" });
    await dialog("revoke an API key", () => page.getByRole("button", { name: "Revoke" }).first().click());
    await visit("/settings/invoicing", "[data-testid=invoicing-form]", "settings: invoicing");
    await page.fill("#inv-prefix", "not a prefix");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.waitForSelector("[data-field-error=inv-prefix]");
    await check("settings: invoicing with an error");
    await visit("/settings/webhooks", "[data-testid=new-webhook]", "settings: webhooks");
    await page.click("[data-testid=new-webhook]");
    await page.fill("#webhook-url", "ftp://files.example.com/drop");
    await page.getByLabel("Only these").check();
    await page.getByLabel("agent.assigned").check();
    await page.click("[role=dialog] button[type=submit]");
    await page.waitForSelector("[data-field-error=webhook-url]");
    await check("new webhook endpoint, with an error", "[role=dialog]");
    await page.fill("#webhook-url", `https://hooks.example.com/a11y-${size.width}`);
    await page.click("[role=dialog] button[type=submit]");
    await page.waitForSelector("[data-testid=webhook-secret]");
    await check("webhook secret shown once", "[role=dialog]");
    await page.click("text=I have stored it");
    await page.waitForSelector("[data-testid=webhook-secret]", { state: "detached" });
    await check("settings: webhooks with an endpoint");
    const hook = `https://hooks.example.com/a11y-${size.width}`;
    await dialog("edit a webhook endpoint", () => page.getByRole("button", { name: `Edit ${hook}` }).click());
    await dialog("rotate a webhook secret", () => page.getByRole("button", { name: `Rotate secret of ${hook}` }).click());
    await dialog("delete a webhook endpoint", () => page.getByRole("button", { name: `Delete ${hook}` }).click());
    // No job runner here: the test delivery stays queued, which the log shows like any other.
    await page.getByRole("button", { name: `Send test to ${hook}` }).click();
    await page.getByRole("link", { name: `Deliveries of ${hook}` }).click();
    await page.waitForSelector("[data-testid=deliveries]");
    await page.getByRole("button", { name: "Attempts" }).first().click();
    await check("settings: webhook delivery log");
    await visit("/settings/integrations", "[data-testid=unattributed-traces]", "settings: integrations");
    await dialog("attribute unattributed spans", () => page.locator("[data-testid=unattributed-traces] button").first().click());
    // The bulk import's answer: the counts and the table of rejected rows (one line names no agent)…
    const upload = async (name: string, text: string) => {
      await page.setInputFiles("#import-file", { name, mimeType: "text/csv", buffer: Buffer.from(text) });
      await page.click("[data-testid=import-submit]");
    };
    await upload(
      "history.csv",
      [
        "id,agent_id,model,input_tokens,output_tokens,occurred_at",
        `a11y-${size.width}-1,${budgeted.id},gpt-4o,1000,200,${new Date(Date.now() - 3_600_000).toISOString()}`,
        `a11y-${size.width}-2,00000000-0000-4000-8000-000000000000,gpt-4o,1,1,${new Date(Date.now() - 3_600_000).toISOString()}`,
        "",
      ].join("\n"),
    );
    await page.waitForSelector("[data-testid=import-errors]");
    await check("settings: integrations, an import's result with rejected rows");
    // …and a file it refuses as a whole (a header without the required columns).
    await upload("wrong.csv", "when,what\n2025-01-01,tokens\n");
    await page.waitForSelector("#import-error");
    await check("settings: integrations, an import refused");
    // One kind of entry keeps the page short for axe; every kind is drawn the same way.
    await page.goto(app.base + "/settings/audit");
    await page.fill("input[aria-label=Action]", "organization.create");
    await page.waitForFunction(() => Array.from(document.querySelectorAll("main ol li")).every((li) => li.textContent?.includes("organization.create")));
    await check("settings: audit log");

    // What a user bound to one organization sees: its own dashboard, grid and organization.
    await context.clearCookies();
    await signInThroughUi(page, app.base, boundViewer.email, boundViewer.password, "/");
    await visit("/", "[data-testid=revenue-cost-chart] svg", "bound dashboard");
    await visit("/organizations", "[data-testid=org-card]", "bound organizations");
    await visit("/organizations/agenticmail?tab=billing", "[data-testid=revenue-cost-chart] svg", "bound organization: billing", "[data-testid=org-detail]");
    await context.clearCookies();
    return found;
  } finally {
    await browser.close();
  }
}

describe("accessibility (axe-core): no serious or critical violations", () => {
  test("every screen and dialog at 1280 px and at 390 px", async () => {
    const found = await Promise.all(WIDTHS.map(walk));
    expectNoBlockers(found.flat());
  }, 400_000);
});
