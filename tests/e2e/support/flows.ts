import { expect } from "bun:test";
import type { Page } from "playwright-core";

/** Signs in through the sign-in page and waits for the app shell. */
export async function signInThroughUi(page: Page, base: string, email: string, password: string, next = "/") {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=user-menu]");
}

/** The text of an element, trimmed, with runs of whitespace collapsed. */
export async function textOf(page: Page, selector: string): Promise<string> {
  const text = await page.locator(selector).first().innerText();
  return text.replace(/\s+/g, " ").trim();
}

/** Waits until the condition holds (polling), failing with the last value seen. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > until) {
      expect(last).toBe("<condition never held>" as T);
    }
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}
