import { test } from "bun:test";
import { ADMIN_KEY } from "../support/http";
import { startApp } from "./support/app";

const app = await startApp();

test("preview", async () => {
  await app.api.post("/api/organizations", { name: "Café Noir", billing_rate_per_agent: "99.00", currency: "EUR", contact_email: "ops@cafenoir.fr" });
  await app.api.post("/api/organizations", { name: "Acme Logistics", billing_rate_per_agent: 149, currency: "USD" });
  const a = await app.api.post("/api/agents", { name: "Support Bot", org_id: "cafe-noir" });
  await app.api.post("/api/agents", { name: "Billing Bot", org_id: "acme-logistics" });
  await app.api.post("/api/agents", { name: "Pool Agent" });
  await app.browser.context.setExtraHTTPHeaders({ "x-api-key": ADMIN_KEY });
  const page = await app.newPage();
  page.on("pageerror", (e) => console.log("PAGEERROR", e.message));
  page.on("console", (m) => m.type() === "error" && console.log("CONSOLE", m.text()));
  await page.goto(app.base + "/organizations");
  await page.waitForSelector("[data-testid=org-card]");
  await page.screenshot({ path: "/tmp/wtweb/grid.png", fullPage: true });
  await page.click("text=Café Noir");
  await page.waitForSelector("[data-testid=org-agents]");
  await page.screenshot({ path: "/tmp/wtweb/detail.png" });
  await page.click("[data-testid=assign-agent]");
  await page.waitForSelector("[data-testid=assign-option]");
  await page.screenshot({ path: "/tmp/wtweb/assign.png" });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(app.base + "/organizations");
  await page.waitForSelector("[data-testid=org-card]");
  await page.screenshot({ path: "/tmp/wtweb/grid-390.png", fullPage: true });
  await page.click("[data-testid=new-org]");
  await page.fill("#org-name", "Zürich Ünïted");
  await page.fill("#org-contact-email", "nope");
  await page.click("text=Create organization");
  await page.waitForSelector("[data-field-error]");
  await page.screenshot({ path: "/tmp/wtweb/create-390.png" });
}, 60000);
