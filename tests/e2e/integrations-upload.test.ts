import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { makeUser } from "../support/access";
import { screenshot, startApp } from "./support/app";
import { watchErrors } from "./support/browser";
import { eventually, signInThroughUi, textOf } from "./support/flows";

/**
 * The bulk import upload on Settings → Integrations: a small CSV is sent to `POST
 * /api/usage/import` (as text/csv, by its extension) with a progress bar, and the page shows the
 * import's answer — accepted, duplicates, rejected and the rejected rows — and, uploaded again,
 * only duplicates (docs/integrations.md, "Bulk import").
 */
const app = await startApp();
const owner = await makeUser(app.database, "owner");
const org = (await app.api.post("/api/organizations", { name: "Upload Org", billing_rate_per_agent: "50.00", created_at: "2025-01-01T00:00:00Z" })).body;
await app.api.post("/api/agents", { name: "Backfill Bot", org_id: org.id, external_id: "backfill-bot", created_at: "2025-01-01T00:00:00Z" });
let page: Page;

const run = Date.now().toString(36);
const csv = [
  "id,agent_external_id,model,input_tokens,output_tokens,occurred_at",
  `imp-${run}-1,backfill-bot,gpt-4o,1000,200,2025-03-01T10:00:00Z`,
  `imp-${run}-2,backfill-bot,gpt-4o,500,100,2025-03-02T10:00:00Z`,
  `imp-${run}-3,backfill-bot,gpt-4o,700,0,2025-03-03T10:00:00Z`,
  `imp-${run}-4,nobody-by-this-id,gpt-4o,1,1,2025-03-03T10:00:00Z`,
  "",
].join("\n");
const shown = async () => ({
  accepted: await textOf(page, "[data-testid=import-result] [data-field=accepted]"),
  duplicates: await textOf(page, "[data-testid=import-result] [data-field=duplicates]"),
  rejected: await textOf(page, "[data-testid=import-result] [data-field=rejected]"),
});

describe("bulk import upload", () => {
  test("uploading a CSV shows progress, then the counts and the rejected rows; the same file again is all duplicates", async () => {
    page = await app.newPage({ width: 1280, height: 900 });
    const errors = watchErrors(page);
    await signInThroughUi(page, app.base, owner.email, owner.password, "/settings/integrations");
    await page.waitForSelector("#import-file");
    const upload = async () => {
      await page.setInputFiles("#import-file", { name: "history.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
      await page.click("[data-testid=import-submit]");
      await page.waitForSelector("[data-testid=import-progress]");
      await eventually(() => page.locator("[data-testid=import-submit]").innerText(), (t) => t.trim() === "Import", 30_000);
    };
    await upload();
    // The import's refusal, if any, in the words the page shows it.
    expect((await page.locator("#import-error").count()) > 0 ? await textOf(page, "#import-error") : null).toBeNull();
    expect(await shown()).toEqual({ accepted: "3", duplicates: "0", rejected: "1" });
    expect(await page.locator("[data-testid=import-progress]").getAttribute("value")).toBe("100");
    expect(await textOf(page, "[data-testid=import-errors]")).toContain(`imp-${run}-4`);
    await screenshot(page, "integrations-import-1280");
    await eventually(() => textOf(page, "[data-testid=source-stats] li[data-source=import] [data-field=accepted]"), (t) => t === "3");

    await upload();
    expect(await shown()).toEqual({ accepted: "0", duplicates: "3", rejected: "1" });
    expect(errors).toEqual([]);
  }, 60_000);
});
