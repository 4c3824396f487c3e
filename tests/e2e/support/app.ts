import { afterAll } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import type { Database } from "../../../db/client";
import type { Config } from "../../../server/config";
import { testDatabase } from "../../support/db";
import { startTestServer } from "../../support/http";
import { noteSecret } from "../../support/log-capture";
import { launchBrowser } from "./browser";
import { ensureWebBuild, ROOT } from "./web-build";

export const SCREENSHOTS = join(ROOT, "docs/screenshots");

/**
 * One browser test file's world: a fresh database, the real server (with `overrides` of the test
 * configuration) serving the built web app on a free port, and a headless Chromium. Everything is torn down after the file.
 */
export async function startApp(overrides: Partial<Config> = {}): Promise<{
  database: Database;
  base: string;
  config: Config;
  api: ReturnType<typeof startTestServer>["api"];
  browser: Awaited<ReturnType<typeof launchBrowser>>;
  newPage: (viewport?: { width: number; height: number }) => Promise<Page>;
}> {
  const webDir = ensureWebBuild();
  const database = await testDatabase();
  const { base, api, config } = startTestServer(database, { webDir, ...overrides });
  const browser = await launchBrowser();
  // Session tokens the browser receives join the run's secrets, which no server log may contain
  // (tests/support/log-capture.ts).
  browser.context.on("response", async (response) => {
    for (const m of ((await response.headerValue("set-cookie").catch(() => null)) ?? "").matchAll(/orgdesk_session=([^;,\s]+)/g)) noteSecret(m[1], "a browser session cookie");
  });
  afterAll(() => browser.close(), 30_000);
  const newPage = async (viewport?: { width: number; height: number }) => {
    const page = await browser.context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    return page;
  };
  return { database, base, config, api, browser, newPage };
}

/** Saves a screenshot to docs/screenshots/<name>.png: the whole page, or the viewport (for modals). */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: options.fullPage ?? true, animations: "disabled" });
}
