/**
 * B5 A/B in one run: two builds of the web app (two `web/build` directories), each served by its
 * own server process on the B5 database, and a static page, visited in turn (static, A, B, with
 * A and B swapping places every round) by one headless Chromium, so both builds see the same
 * machine load. Prints the median LCP of each and its ratio to the static page's.
 *
 *   bun run tests/bench/b5-ab.ts <build dir A> <build dir B> [rounds=12]
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startProcess } from "../support/server-process";
import { median } from "./lib/load";
import { webDatabase } from "./b5-web";
import { launchBenchChromium } from "./lib/chromium";

const OWNER = { email: "bench-owner@orgdesk.example", password: "bench-owner-password-1" };
const [dirA, dirB, roundsArg] = process.argv.slice(2);
if (!dirA || !dirB) throw new Error("usage: b5-ab.ts <build dir A> <build dir B> [rounds]");
const rounds = Number(roundsArg ?? 12);
const url = await webDatabase(console.log);
const staticHtml = `<!doctype html><html><head><meta charset="utf-8"><title>Organizations</title></head><body><h1>Organizations</h1><main>${Array.from({ length: 40 }, (_, i) => `<article><h2>Client ${i}</h2><p>ops${i}@client${i}.example · 3 agents · 99.00 USD per agent</p></article>`).join("")}</main></body></html>`;
const env = { DATABASE_URL: url, ADMIN_EMAIL: OWNER.email, ADMIN_PASSWORD: OWNER.password, ADMIN_API_KEY: "", RATE_LIMIT_PER_KEY: "1000000000", RATE_LIMIT_PER_ADDRESS: "1000000000" };
const dirs = [dirA, dirB].map((d) => {
  const copy = mkdtempSync(join(tmpdir(), "orgdesk-b5-ab-"));
  cpSync(resolve(d), copy, { recursive: true });
  writeFileSync(join(copy, "b5-static.html"), staticHtml);
  return copy;
});
const servers = [await startProcess("server/index.ts", { ...env, WEB_DIR: dirs[0]! }), await startProcess("server/index.ts", { ...env, WEB_DIR: dirs[1]! })];
const browser = await launchBenchChromium();
try {
  const cookiesFor = async (base: string) => {
    const res = await fetch(`${base}/trpc/auth.signIn`, { method: "POST", headers: { "content-type": "application/json", origin: base }, body: JSON.stringify(OWNER) });
    return res.headers.getSetCookie().map((c) => {
      const [pair] = c.split(";");
      const [name, ...value] = pair!.split("=");
      return { name: name!.trim(), value: value.join("="), url: base };
    });
  };
  const cookies = [await cookiesFor(servers[0]!.base), await cookiesFor(servers[1]!.base)];
  const visit = async (i: 0 | 1, path: string, ready?: string) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies(cookies[i]!);
    const page = await context.newPage();
    await page.goto(servers[i]!.base + path, { waitUntil: "networkidle" });
    if (ready) await page.getByText(ready).first().waitFor({ timeout: 10_000 });
    const lcp = await page.evaluate(() => new Promise<number>((r) => {
      let last = NaN;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) last = e.startTime; }).observe({ type: "largest-contentful-paint", buffered: true });
      setTimeout(() => r(last), 300);
    }));
    await context.close();
    return lcp;
  };
  for (const i of [0, 1] as const) await visit(i, "/organizations", "Client 001 Labs");
  const lcp: { s: number[]; a: number[]; b: number[] } = { s: [], a: [], b: [] };
  for (let r = 0; r < rounds; r++) {
    lcp.s.push(await visit((r % 2) as 0 | 1, "/b5-static.html"));
    for (const i of (r % 2 ? [1, 0] : [0, 1]) as (0 | 1)[]) (i ? lcp.b : lcp.a).push(await visit(i, "/organizations", "Client 001 Labs"));
    console.log(`round ${r + 1}: static ${lcp.s.at(-1)!.toFixed(0)} A ${lcp.a.at(-1)!.toFixed(0)} B ${lcp.b.at(-1)!.toFixed(0)} ms (load ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")})`);
  }
  const s = median(lcp.s);
  console.log(`median LCP: static ${s.toFixed(0)} ms; A ${median(lcp.a).toFixed(0)} ms (${(median(lcp.a) / s).toFixed(2)}×); B ${median(lcp.b).toFixed(0)} ms (${(median(lcp.b) / s).toFixed(2)}×)`);
} finally {
  await browser.close();
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
