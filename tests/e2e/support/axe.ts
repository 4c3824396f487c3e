import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import type { AxeResults, RunOptions } from "axe-core";
import type { Page } from "playwright-core";

/** What axe found on one screen that a person would be stopped by (serious or critical). */
export interface Blocker {
  screen: string;
  rule: string;
  impact: string;
  help: string;
  targets: string[];
}

// axe-core's own script, injected into the page (docs/decisions.md says why not @axe-core/playwright).
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const OPTIONS: RunOptions = { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] }, resultTypes: ["violations"] };

/**
 * Runs axe-core (WCAG 2.x A and AA rules, and axe's best practices) on the page as it is now, or
 * only on what `within` selects (an open dialog or menu, when the page behind it was checked
 * already), and returns its serious and critical violations.
 */
export async function axeBlockers(page: Page, screen: string, within?: string): Promise<Blocker[]> {
  // A transition under way (a button fading to its hover colour) would leave colours half-way for
  // the contrast rule; endless ones (a spinner) are left alone.
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== "running" || a.effect?.getComputedTiming().endTime === Infinity));
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(
    ([context, options]) => (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<AxeResults> } }).axe.run(context ?? document, options),
    [within ? { include: [within] } : null, OPTIONS] as const,
  );
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ screen, rule: v.id, impact: v.impact!, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
}

/** Fails with every blocker found, each with its screen, rule and elements. */
export function expectNoBlockers(blockers: Blocker[]) {
  const readable = blockers.map((b) => `${b.screen}: ${b.rule} (${b.impact}) ${b.help} — ${b.targets.join(" | ")}`);
  expect(readable).toEqual([]);
}
