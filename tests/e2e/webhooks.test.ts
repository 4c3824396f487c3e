import { afterAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { Webhook as Verifier } from "standardwebhooks";
import { startJobRunner } from "../../server/jobs/runner";
import { makeUser } from "../support/access";
import { startReceiver } from "../support/webhook-receiver";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { eventually, signInThroughUi, textOf } from "./support/flows";

/**
 * Webhooks in Settings (docs/web.md): add an endpoint and copy its secret (shown once), send a test
 * event to a receiver that fails first, read the attempt in the delivery log, retry it by hand,
 * rotate the secret, delete the endpoint. Every delivery is verified with the `standardwebhooks`
 * package and the secret the screen showed. The receiver is local, hence WEBHOOK_ALLOW_PRIVATE; the
 * retry schedule's unit is a minute, so only the manual retry sends the second attempt.
 */
const app = await startApp({ webhookAllowPrivate: true, webhookRetryUnitMs: 60_000 });
const runner = startJobRunner({ database: app.database, config: app.config });
afterAll(() => runner.stop(2000));
const receiver = startReceiver((_req, n) => (n === 1 ? new Response("receiver down for maintenance", { status: 500 }) : new Response("ok")));
const owner = await makeUser(app.database, "owner");
let page: Page;
let errors: string[];
let secret = "";
let endpointId = "";

describe("webhooks in Settings", () => {
  test("adding an endpoint shows field errors, then the signing secret once", async () => {
    page = await app.newPage({ width: 1280, height: 900 });
    errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/settings/webhooks");
    await page.getByRole("link", { name: "Webhooks" }).waitFor();
    await page.waitForSelector("text=No webhook endpoints");
    await page.click("[data-testid=new-webhook]");
    await page.fill("#webhook-url", "ftp://files.example.com/drop");
    await page.click("text=Add endpoint >> nth=-1");
    await page.waitForSelector("[data-field-error=webhook-url]");
    expect(await textOf(page, "[data-field-error=webhook-url]")).toContain("https");

    await page.fill("#webhook-url", receiver.url);
    await page.fill("#webhook-description", "Finance sync");
    await page.getByLabel("Only these").check();
    await page.getByLabel("agent.assigned").check();
    await page.getByLabel("agent.unassigned").check();
    await page.click("[role=dialog] button[type=submit]");
    const shown = page.locator("[data-testid=webhook-secret]");
    await shown.waitFor();
    secret = await shown.inputValue();
    expect(secret).toMatch(/^whsec_/);
    await screenshot(page, "webhook-secret-1280", { fullPage: false });
    await page.click("text=I have stored it");
    await shown.waitFor({ state: "detached" });

    const listed = (await app.api.get("/api/webhooks")).body.webhooks;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ url: receiver.url, description: "Finance sync", event_types: ["agent.assigned", "agent.unassigned"], enabled: true });
    endpointId = listed[0].id;
    const row = page.locator(`[data-webhook="${receiver.url}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("2 event types");
    // The secret is nowhere on the page once the dialog is closed.
    expect(await page.content()).not.toContain(secret.slice(6));
  }, 60_000);

  test("a test event to a failing receiver shows its attempt; a manual retry delivers it with the same webhook-id", async () => {
    await page.getByRole("button", { name: `Send test to ${receiver.url}` }).click();
    await eventually(async () => receiver.received.length, (n) => n >= 1);
    await page.getByRole("link", { name: `Deliveries of ${receiver.url}` }).click();
    await page.waitForURL(/\/settings\/webhooks\/[0-9a-f-]+$/);
    const delivery = page.locator("[data-delivery='webhook.test']");
    // The log polls while a delivery is being retried: the failed attempt appears by itself.
    await page.waitForFunction(() => document.querySelector("[data-delivery='webhook.test']")?.textContent?.includes("last HTTP 500"));
    expect(await delivery.textContent()).toContain("Retrying");
    await delivery.getByRole("button", { name: "Attempts" }).click();
    expect(await delivery.locator("table").textContent()).toContain("receiver down for maintenance");
    await screenshot(page, "webhook-deliveries-1280");

    await delivery.getByRole("button", { name: /^Retry delivery/ }).click();
    await eventually(async () => receiver.received.length, (n) => n >= 2);
    await page.waitForFunction(() => document.querySelector("[data-delivery='webhook.test']")?.textContent?.includes("Succeeded"));
    expect(await delivery.textContent()).toContain("2 attempts");
    expect(await delivery.textContent()).toContain("last HTTP 200");

    // Both attempts: the same webhook-id, each signed with the secret the screen showed.
    const [first, second] = receiver.received;
    expect(first!.headers["webhook-id"]).toBe(second!.headers["webhook-id"]);
    const event = new Verifier(secret).verify(second!.body, second!.headers) as { type: string; data: { endpoint_id: string } };
    expect(event.type).toBe("webhook.test");
    expect(event.data.endpoint_id).toBe(endpointId);
    new Verifier(secret).verify(first!.body, first!.headers);
    expect(await delivery.textContent()).toContain(first!.headers["webhook-id"]!);

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "webhook-deliveries-390");
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  test("rotating the secret shows a new one; deliveries then verify with either", async () => {
    await page.goto(app.base + "/settings/webhooks");
    await page.getByRole("button", { name: `Rotate secret of ${receiver.url}` }).click();
    await page.click("[role=dialog] >> text=Rotate secret");
    const shown = page.locator("[data-testid=webhook-secret]");
    await shown.waitFor();
    const next = await shown.inputValue();
    expect(next).toMatch(/^whsec_/);
    expect(next).not.toBe(secret);
    await page.click("text=I have stored it");
    await shown.waitFor({ state: "detached" });
    await screenshot(page, "webhooks-1280");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "webhooks-390");
    await page.setViewportSize({ width: 1280, height: 900 });

    await page.getByRole("button", { name: `Send test to ${receiver.url}` }).click();
    await eventually(async () => receiver.received.length, (n) => n >= 3);
    const third = receiver.received[2]!;
    expect((new Verifier(next).verify(third.body, third.headers) as { type: string }).type).toBe("webhook.test");
    new Verifier(secret).verify(third.body, third.headers); // the old one still signs for 24 h
  }, 60_000);

  test("deleting the endpoint asks first and removes it", async () => {
    await page.getByRole("button", { name: `Delete ${receiver.url}` }).click();
    await page.click("[role=dialog] >> text=Delete endpoint");
    await page.waitForSelector("text=No webhook endpoints");
    expect((await app.api.get("/api/webhooks")).body.webhooks).toEqual([]);
    expect(errors).toEqual([]);
  }, 30_000);
});
