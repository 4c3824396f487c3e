import { chromium, type Browser } from "playwright-core";

/**
 * Headless Chromium as B5 and its tools launch it. Each new browser context of headless Chromium
 * loads the browser's own omnibox popup (a built-in WebUI page of about 400 modules, ≈ 1.6 s of
 * CPU) while the first page of the context loads: work of the browser, not of the page, which a
 * real first visit does not pay (the browser's UI was loaded when it started) and which only the
 * slower of B5's two pages ever meets. B5 turns it off (docs/scaling.md, B5; tests/bench/fixes.md,
 * 19 and 22). B5_CHROMIUM_OMNIBOX=1 leaves it on, to measure as before.
 *
 * Chromium honours only the last `--disable-features` it is given, and playwright-core passes one
 * of its own: the features are added to that list, read from the command line playwright-core
 * builds, so none of its own is dropped.
 */
const OMNIBOX_FEATURES = ["WebUIOmniboxPopup", "WebUIOmniboxFullPopup", "WebUIOmniboxAimPopup", "PreloadTopChromeWebUI"];

export async function launchBenchChromium(executablePath = "/usr/bin/chromium"): Promise<Browser> {
  const base = { executablePath, headless: true, args: ["--no-sandbox"] };
  if (process.env.B5_CHROMIUM_OMNIBOX === "1") return chromium.launch(base);
  const probe = await chromium.launchServer(base);
  const defaults = probe.process().spawnargs.find((a) => a.startsWith("--disable-features="));
  await probe.close();
  if (!defaults) throw new Error("playwright-core passed no --disable-features to Chromium");
  return chromium.launch({ ...base, ignoreDefaultArgs: [defaults], args: [...base.args, `${defaults},${OMNIBOX_FEATURES.join(",")}`] });
}
