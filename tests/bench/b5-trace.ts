/**
 * A Chromium performance trace of B5's first visit (the organizations page, 500 organizations,
 * signed in, fresh context): where the renderer's main thread spends its time before the page's
 * largest contentful paint. Uses the current `web/build` (run `bun run build:web` first).
 *
 *   bun run tests/bench/b5-trace.ts [visits=3] [out.json] [build dir, default web/build]
 *
 * Per visit: LCP, the main thread's busy time before it (wall clock and thread CPU time, the
 * latter less sensitive to other load on the machine), the inclusive time by trace event, long
 * tasks, forced layouts, and sampled self time by script (a 200 µs sampling profiler runs during
 * the visit, which adds to the main thread's time); B5_TRACE_NET=1 adds request timings. It also
 * reports the CPU time of other renderers in the same window: headless Chromium loads its own
 * omnibox popup (a WebUI page) in every new browser context, ≈ 0.4 s after it opens, unless it
 * is turned off as the bench now does (lib/chromium.ts; B5_CHROMIUM_OMNIBOX=1 leaves it on).
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startProcess } from "../support/server-process";
import { webDatabase } from "./b5-web";
import { launchBenchChromium } from "./lib/chromium";

const OWNER = { email: "bench-owner@orgdesk.example", password: "bench-owner-password-1" };
const visits = Number(process.argv[2] ?? 3);
const out = process.argv[3] || undefined;
const summary: { lcp: number; cpu: number }[] = [];

interface TraceEvent { name: string; cat: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: any }

const url = await webDatabase(console.log);
const webDir = process.argv[4] ?? join(ROOT, "web/build");
if (!existsSync(join(webDir, "index.html"))) throw new Error("run bun run build:web first");
const server = await startProcess("server/index.ts", { DATABASE_URL: url, WEB_DIR: webDir, ADMIN_EMAIL: OWNER.email, ADMIN_PASSWORD: OWNER.password, ADMIN_API_KEY: "", RATE_LIMIT_PER_KEY: "1000000000", RATE_LIMIT_PER_ADDRESS: "1000000000" });
const browser = await launchBenchChromium();
try {
  const signIn = await fetch(`${server.base}/trpc/auth.signIn`, { method: "POST", headers: { "content-type": "application/json", origin: server.base }, body: JSON.stringify(OWNER) });
  const cookies = signIn.headers.getSetCookie().map((c) => {
    const [pair] = c.split(";");
    const [name, ...value] = pair!.split("=");
    return { name: name!.trim(), value: value.join("="), url: server.base };
  });
  for (let v = 0; v <= visits; v++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies(cookies);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const events: TraceEvent[] = [];
    cdp.on("Tracing.dataCollected", (e: any) => events.push(...e.value));
    const done = new Promise<void>((r) => cdp.once("Tracing.tracingComplete", () => r()));
    await cdp.send("Tracing.start", {
      transferMode: "ReportEvents",
      traceConfig: { includedCategories: ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "v8", "blink.user_timing", "loading", "disabled-by-default-v8.compile", "blink", "rail", "disabled-by-default-devtools.timeline.stack"] },
    });
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
    await cdp.send("Profiler.start");
    await page.goto(`${server.base}/organizations`, { waitUntil: "networkidle" });
    await page.getByText("Client 001 Labs").first().waitFor({ timeout: 10_000 });
    const lcp = await page.evaluate(() => new Promise<number>((resolve) => {
      let last = NaN;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) last = e.startTime; }).observe({ type: "largest-contentful-paint", buffered: true });
      setTimeout(() => resolve(last), 300);
    }));
    const { profile } = (await cdp.send("Profiler.stop")) as any;
    await cdp.send("Tracing.end");
    await done;
    await context.close();
    if (v === 0) continue; // warm-up
    if (out) writeFileSync(out.replace(/\.json$/, `-${v}.json`), JSON.stringify({ traceEvents: events }));
    report(events, lcp, v);
    profileReport(profile, events, lcp);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\nmedian over ${summary.length} visits: LCP ${med(summary.map((s) => s.lcp)).toFixed(0)} ms, main-thread CPU before LCP ${med(summary.map((s) => s.cpu)).toFixed(0)} ms`);
} finally {
  await browser.close();
  await server.stop();
}


function report(events: TraceEvent[], lcp: number, v: number) {
  const nav = events.find((e) => e.name === "navigationStart" && e.args?.data?.isLoadingMainFrame && e.args?.data?.documentLoaderURL?.includes("/organizations"));
  const main = events.find((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain" && nav && e.pid === nav.pid);
  if (!nav || !main) return console.log("no navigation/main thread found");
  const t0 = nav.ts;
  const at = (ts: number) => ((ts - t0) / 1000).toFixed(0);
  const mine = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === "X" && e.dur !== undefined && e.ts >= t0);
  const lcpTs = t0 + lcp * 1000;
  // Top-level tasks before LCP, and what they contain.
  const tasks = mine.filter((e) => e.name === "RunTask" && e.ts < lcpTs);
  const busy = tasks.reduce((s, e) => s + e.dur!, 0) / 1000;
  const cpu = tasks.reduce((s, e) => s + ((e as any).tdur ?? 0), 0) / 1000;
  summary.push({ lcp, cpu });
  console.log(`\nvisit ${v}: LCP ${lcp.toFixed(0)} ms; main thread busy ${busy.toFixed(0)} ms (CPU ${cpu.toFixed(0)} ms) before it in ${tasks.length} tasks`);
  const byName = new Map<string, number>();
  for (const e of mine) if (e.ts < lcpTs && e.name !== "RunTask") byName.set(e.name, (byName.get(e.name) ?? 0) + ((e as any).tdur ?? e.dur!) / 1000);
  console.log("  inclusive thread time by event (before LCP): " + [...byName].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([n, d]) => `${n} ${d.toFixed(0)}`).join(", "));
  // Script per URL (compile + evaluate).
  const perUrl = new Map<string, number>();
  for (const e of mine) {
    if (e.ts >= lcpTs) continue;
    const u = e.args?.data?.url ?? e.args?.fileName;
    if (!u || !/^(v8\.compileModule|v8\.evaluateModule|EvaluateScript|v8\.compile|FunctionCall)$/.test(e.name)) continue;
    const k = `${e.name} ${String(u).split("/").pop()}`;
    perUrl.set(k, (perUrl.get(k) ?? 0) + e.dur! / 1000);
  }
  console.log("  by script: " + [...perUrl].sort((a, b) => b[1] - a[1]).slice(0, 14).map(([n, d]) => `${n} ${d.toFixed(1)}`).join(", "));
  // Long tasks (≥ 15 ms) with their start and what dominates.
  for (const t of tasks.filter((t) => t.dur! >= 15_000)) {
    const inner = mine.filter((e) => e.ts >= t.ts && e.ts + e.dur! <= t.ts + t.dur! && e !== t && e.name !== "RunTask");
    const tops = new Map<string, number>();
    for (const e of inner) tops.set(e.name, (tops.get(e.name) ?? 0) + e.dur! / 1000);
    console.log(`  task @${at(t.ts)} ${(t.dur! / 1000).toFixed(0)} ms: ` + [...tops].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([n, d]) => `${n} ${d.toFixed(0)}`).join(", "));
  }
  // Network: when the last script and auth.me finished.
  const finishes = events.filter((e) => e.name === "ResourceFinish");
  const sends = new Map(events.filter((e) => e.name === "ResourceSendRequest").map((e) => [e.args.data.requestId, e.args.data.url as string]));
  const scriptEnd = Math.max(...finishes.filter((e) => /\.js$/.test(sends.get(e.args.data.requestId) ?? "")).map((e) => e.ts));
  const me = finishes.find((e) => (sends.get(e.args.data.requestId) ?? "").includes("auth.me"));
  console.log(`  last script finished @${at(scriptEnd)}, auth.me @${me ? at(me.ts) : "?"}; scripts ${[...sends.values()].filter((u) => u.endsWith(".js")).length}`);
  if (process.env.B5_TRACE_NET) {
    const recv = new Map(events.filter((e) => e.name === "ResourceReceiveResponse").map((e) => [e.args.data.requestId, e.ts]));
    const fin = new Map(finishes.map((e) => [e.args.data.requestId, e.ts]));
    const rows = events.filter((e) => e.name === "ResourceSendRequest" && e.pid === main.pid).map((e) => [e.ts, e.args.data.requestId, e.args.data.url.split("/").pop()] as const).sort((a, b) => a[0] - b[0]);
    for (const [ts, id, u] of rows) console.log(`    ${u.padEnd(28)} sent @${at(ts)} response @${recv.has(id) ? at(recv.get(id)!) : "?"} done @${fin.has(id) ? at(fin.get(id)!) : "?"}`);
  }
  for (const e of mine.filter((e) => (e.name === "Layout" || e.name === "UpdateLayoutTree") && e.ts < lcpTs && e.dur! > 2000)) {
    const stack = e.args?.beginData?.stackTrace ?? e.args?.data?.stackTrace;
    console.log(`    ${e.name} @${at(e.ts)} ${(e.dur! / 1000).toFixed(1)} ms ${stack ? "forced by " + stack.slice(0, 4).map((f: any) => `${f.functionName}@${String(f.url).split("/").pop()}`).join(" < ") : ""}`);
  }
  const others = new Map<number, string>();
  for (const e of events) if (e.name === "ResourceSendRequest" && e.pid !== main.pid && String(e.args?.data?.url).startsWith("chrome://")) {
      const host = String(e.args.data.url).split("/")[2]!;
      if (!others.has(e.pid) || others.get(e.pid) === "resources") others.set(e.pid, host);
    }
  for (const [pid, host] of others) {
    const cpu = events.filter((e) => e.pid === pid && e.name === "RunTask" && e.ph === "X" && e.ts >= t0 && e.ts < lcpTs).reduce((s, e) => s + ((e as any).tdur ?? 0), 0) / 1000;
    console.log(`  another renderer (${host}) ran ${cpu.toFixed(0)} ms of CPU before the LCP`);
  }
  const paints = events.filter((e) => e.name === "largestContentfulPaint::Candidate" || e.name === "firstContentfulPaint" || e.name === "firstPaint");
  console.log("  paints: " + paints.map((e) => `${e.name.replace("largestContentfulPaint::", "LCP ")} @${at(e.ts)}`).join(", "));
}

/** Self time per script and per function (sampled) between navigation and LCP. */
function profileReport(profile: any, events: TraceEvent[], lcp: number) {
  const nav = events.find((e) => e.name === "navigationStart" && e.args?.data?.documentLoaderURL?.includes("/organizations"));
  if (!nav) return;
  const end = nav.ts + lcp * 1000;
  const nodes = new Map<number, any>(profile.nodes.map((n: any) => [n.id, n]));
  const perUrl = new Map<string, number>();
  const perFn = new Map<string, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (t < nav.ts || t > end) continue;
    const n = nodes.get(profile.samples[i])!;
    const cf = n.callFrame;
    const file = cf.url ? String(cf.url).split("/").pop()! : `(${cf.functionName || "program"})`;
    perUrl.set(file, (perUrl.get(file) ?? 0) + dt);
    const fn = `${cf.functionName || "(anon)"}@${file}:${cf.lineNumber}`;
    perFn.set(fn, (perFn.get(fn) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([n, d]) => `${n} ${d.toFixed(1)}`).join(", ");
  console.log("  sampled self time by script (ms): " + top(perUrl, 16));
  console.log("  by function: " + top(perFn, Number(process.env.B5_TOP ?? 16)));
}
