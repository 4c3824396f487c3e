import { readFileSync } from "node:fs";
import { client } from "../support/http";
import { spawnServer } from "../support/process";

/**
 * A bounded mixed workload against the server running as its own process: reads, billing
 * summaries, usage batches, moves, rate changes, toggles, create-and-delete. Every answer must be
 * a success. Every 2 s the server runs a full garbage collection (SIGUSR2, collect-on-signal.ts)
 * and its resident memory and live JavaScript heap are sampled: without the collection, RSS is a
 * sawtooth whose phase, in a short run, decides the figure more than any leak does.
 *
 * The reports read data of a steady size (`history: "steady"`, the default): the organizations
 * whose billing is summarized keep their agents, rates and status, while moves, rate changes and
 * toggles go to the other half of the organizations and agents. Every such write appends a period
 * to a history, and a summary reads its organization's periods over the month, so with the writes
 * on the summarized organizations (`history: "growing"`) each summary reads more rows than the
 * last, and the memory a request needs grows with them: the soak would measure the data's growth,
 * not a leak (docs/reliability.md, "Memory").
 */
export interface SoakResult {
  seconds: number;
  requests: number;
  errors: string[];
  byKind: Record<string, number>;
  /** Median RSS after a full collection, in the first fifth after warm-up and in the last fifth. */
  rssStartMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  /** Growth of that RSS from the first to the last window. */
  growthPct: number;
  /** Median live JavaScript heap after a full collection, same windows: what a leak of objects raises. */
  heapStartMb: number;
  heapEndMb: number;
  heapGrowthPct: number;
  /**
   * The same windows' medians, MB, of the JavaScript heap's capacity, of the memory its objects
   * hold outside it, and of the allocator's pages for small blocks (collect-on-signal.ts). RSS
   * growing while the first two stay flat is native memory of the runtime, not the JavaScript
   * side's; the third shows whether it is the allocator's small pages.
   */
  breakdownMb: Record<"heapCapacity" | "extra" | "allocatorSmallPages", [number, number]>;
  /**
   * Requests answered per second in the same two windows. Memory follows throughput (more work
   * between collections, more in flight), so the windows compare only when these are close.
   */
  throughputPerSecond: [number, number];
  /** Paced operations dropped because the run was more than a second behind its schedule. */
  skippedOperations: number;
  /** Least-squares slope of the sampled RSS after warm-up, in MB per minute: about 0 once memory levels off. */
  rssSlopeMbPerMin: number;
  /**
   * Median milliseconds per request kind in the same two windows: a kind whose time grows reads
   * more data as the run goes on.
   */
  latencyMs: Record<string, [number, number]>;
  /** `seconds:rss/heap/heap capacity` per sample, MB, for the log. */
  samples: string;
}

const KEY = "soak-admin-key";

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
};

export async function runSoak({
  seconds,
  databaseUrl,
  workers = 6,
  perSecond = 50,
  warmupSeconds = Math.min(60, Math.round(seconds / 3)),
  kinds,
  history = "steady",
  log = () => {},
}: {
  seconds: number;
  databaseUrl: string;
  workers?: number;
  /** Operations started per second, all workers together: a steady load, not a flood. */
  perSecond?: number;
  /** Not measured: JIT, caches and the connection pool fill up first. */
  warmupSeconds?: number;
  /** Only these request kinds (names as in byKind): to find which kind moves memory. */
  kinds?: string[];
  /** Whether the writes go to the organizations the reports read (see above). */
  history?: "steady" | "growing";
  log?: (line: string) => void;
}): Promise<SoakResult> {
  const server = await spawnServer(
    {
      DATABASE_URL: databaseUrl,
      ADMIN_API_KEY: KEY,
      RATE_LIMIT_PER_KEY: "0",
      RATE_LIMIT_PER_ADDRESS: "0",
      // SOAK_SERVER_<NAME>=value sets <NAME> in the server's environment (e.g. SOAK_SERVER_JOBS_ENABLED=0).
      ...Object.fromEntries(Object.entries(process.env).flatMap(([k, v]) => (k.startsWith("SOAK_SERVER_") && v !== undefined ? [[k.slice("SOAK_SERVER_".length), v]] : []))),
    },
    { preload: "./tests/soak/collect-on-signal.ts" },
  );
  const api = client(server.base, KEY);
  const orgs: string[] = [];
  const agents: string[] = [];
  for (let i = 0; i < 6; i++) orgs.push((await api.post("/api/organizations", { name: `Soak Org ${i}`, billing_rate_per_agent: "49.00" })).body.id);
  // Steady: organizations 0–2 and agents 0–11 are summarized and never changed; 3–5 and 12–23 take the writes.
  const steady = history === "steady";
  const reported = steady ? orgs.slice(0, 3) : orgs;
  const changed = steady ? orgs.slice(3) : orgs;
  for (let i = 0; i < 24; i++) {
    const home = steady ? (i < 12 ? reported : changed) : orgs;
    agents.push((await api.post("/api/agents", { name: `Soak Agent ${i}`, org_id: home[i % home.length] })).body.id);
  }
  const moving = steady ? agents.slice(12) : agents;
  const month = new Date().toISOString().slice(0, 7);

  let seed = 20260301;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  let eventSeq = 0;
  let orgSeq = 0;

  type Step = { kind: string; weight: number; run: () => Promise<{ status: number; body: any }[]>; ok: number[] };
  const allSteps: Step[] = [
    { kind: "list organizations", weight: 25, ok: [200], run: async () => [await api.get("/api/organizations?limit=50")] },
    { kind: "list agents", weight: 15, ok: [200], run: async () => [await api.get("/api/agents?limit=100")] },
    { kind: "get organization", weight: 10, ok: [200], run: async () => [await api.get(`/api/organizations/${pick(orgs)}`)] },
    { kind: "billing summary", weight: 12, ok: [200], run: async () => [await api.get(`/api/organizations/${pick(reported)}/billing-summary?from=${month}&to=${month}`)] },
    {
      kind: "usage batch",
      weight: 15,
      ok: [200],
      run: async () => {
        const events = Array.from({ length: 10 }, () => ({
          id: `soak-${process.pid}-${eventSeq++}`,
          agent_id: pick(agents),
          model: pick(["gpt-4o", "soak-model"]),
          input_tokens: 1000,
          output_tokens: 200,
          cost_usd: "0.0125",
        }));
        return [await api.post("/api/usage", { events })];
      },
    },
    { kind: "move agent", weight: 10, ok: [200], run: async () => [await api.post(`/api/agents/${pick(moving)}/assign-org`, { orgId: pick(changed) })] },
    { kind: "change rate", weight: 5, ok: [200], run: async () => [await api.patch(`/api/organizations/${pick(changed)}`, { billing_rate_per_agent: pick(["49.00", "99.00", "10.50"]) })] },
    { kind: "toggle", weight: 4, ok: [200], run: async () => [await api.post(`/api/organizations/${pick(changed)}/toggle`, { is_active: rand() < 0.7 })] },
    {
      kind: "create and delete",
      weight: 4,
      ok: [200, 201],
      run: async () => {
        const created = await api.post("/api/organizations", { name: `Soak Temp ${orgSeq++}` });
        return [created, created.status === 201 ? await api.delete(`/api/organizations/${created.body.id}`) : created];
      },
    },
  ];
  const steps = kinds?.length ? allSteps.filter((s) => kinds.includes(s.kind)) : allSteps;
  if (steps.length === 0) throw new Error(`no request kind matches ${kinds!.join(", ")}; kinds: ${allSteps.map((s) => s.kind).join(", ")}`);
  const totalWeight = steps.reduce((n, s) => n + s.weight, 0);
  const choose = () => {
    let r = rand() * totalWeight;
    for (const s of steps) if ((r -= s.weight) < 0) return s;
    return steps[0]!;
  };

  const errors: string[] = [];
  const byKind: Record<string, number> = {};
  const timings: { t: number; kind: string; ms: number }[] = [];
  let requests = 0;
  const samples: { t: number; rss: number; heap: number; capacity: number; extra: number; allocatorSmallPages: number; requests: number }[] = [];
  const started = Date.now();
  const deadline = started + seconds * 1000;
  // Every 2 s after the warm-up: a full collection in the server (SIGUSR2, see
  // collect-on-signal.ts), then its RSS. None during the warm-up: the runtime collects on its own
  // schedule there, as in production, so the allocator reaches the pages its peaks need before
  // the measured span; a collection every 2 s only slows that approach and spreads it over the
  // measured span (docs/reliability.md, "Memory").
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await Bun.sleep(1700);
      if (Date.now() - started < warmupSeconds * 1000) continue;
      try {
        // The collection's own line, printed after the signal: a sample without it is skipped.
        const from = server.output().length;
        const line = () => /soak-heap (\d+) (\d+) (\d+) (\d+)\n/.exec(server.output().slice(from));
        const signalled = Date.now();
        server.proc.kill("SIGUSR2");
        let last = line();
        for (let waited = 0; !last && waited < 3000; waited += 100) {
          await Bun.sleep(100);
          last = line();
        }
        if (!last) continue;
        // As before: RSS read 300 ms after the signal, once the allocator has returned what the collection freed.
        await Bun.sleep(Math.max(0, signalled + 300 - Date.now()));
        const mb = (i: number) => Number(last[i]) / 1048576;
        samples.push({ t: (Date.now() - started) / 1000, rss: rssMb(server.proc.pid), heap: mb(1), capacity: mb(2), extra: mb(3), allocatorSmallPages: mb(4), requests });
      } catch {}
    }
  })();
  let lastLog = started;

  let operations = 0;
  let skipped = 0;
  async function worker() {
    while (Date.now() < deadline) {
      // Pace: operation n starts no earlier than n / perSecond seconds into the run. Slots more
      // than a second late are dropped, not made up in a burst: a burst after a slow phase raised
      // the server's throughput, and with it its memory, late in the run (docs/reliability.md, "Memory").
      const now = Date.now();
      const behind = Math.floor(((now - started) * perSecond) / 1000) - operations - perSecond;
      if (behind > 0) {
        operations += behind;
        skipped += behind;
      }
      const due = started + (operations++ * 1000) / perSecond;
      if (due > now) await Bun.sleep(due - now);
      const step = choose();
      const began = performance.now();
      try {
        for (const res of await step.run()) {
          requests++;
          if (!step.ok.includes(res.status)) errors.push(`${step.kind}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
      } catch (err) {
        errors.push(`${step.kind}: ${String(err)}`);
      }
      byKind[step.kind] = (byKind[step.kind] ?? 0) + 1;
      timings.push({ t: (Date.now() - started) / 1000, kind: step.kind, ms: performance.now() - began });
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`${Math.round((Date.now() - started) / 1000)} s: ${requests} requests, ${errors.length} errors, RSS ${(samples.at(-1)?.rss ?? rssMb(server.proc.pid)).toFixed(1)} MB${samples.length ? "" : " (warm-up, not collected)"}`);
      }
    }
  }
  await Promise.all(Array.from({ length: workers }, worker));
  sampling = false;
  await sampler;
  server.proc.kill("SIGTERM");
  const code = await server.exited(30_000);
  if (code !== 0) errors.push(`the server exited with ${code} after SIGTERM`);

  // Memory after warm-up: the first fifth of the measured span against the last fifth, each by
  // its median (the collection before each sample removes the sawtooth; the median ignores a
  // sample taken while a burst of requests was in flight).
  const fifth = (seconds - warmupSeconds) / 5;
  const inWindow = (from: number, to: number) => samples.filter((s) => s.t >= from && s.t < to);
  const early = inWindow(warmupSeconds, warmupSeconds + fifth);
  const late = inWindow(seconds - fifth, seconds);
  const median = (xs: number[]) => percentile(xs, 0.5);
  const round1 = (x: number) => Math.round(x * 10) / 10;
  const growth = (a: number, b: number) => (a > 0 ? Math.round(((b - a) / a) * 1000) / 10 : 0);
  const rss = [median(early.map((s) => s.rss)), median(late.map((s) => s.rss))] as const;
  const heap = [median(early.map((s) => s.heap)), median(late.map((s) => s.heap))] as const;
  const windows = (key: "capacity" | "extra" | "allocatorSmallPages"): [number, number] => [round1(median(early.map((s) => s[key]))), round1(median(late.map((s) => s[key])))];
  const rate = (w: typeof samples) => (w.length > 1 ? Math.round((w.at(-1)!.requests - w[0]!.requests) / (w.at(-1)!.t - w[0]!.t)) : 0);
  const measured = samples.filter((s) => s.t >= warmupSeconds);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const mt = mean(measured.map((s) => s.t));
  const mr = mean(measured.map((s) => s.rss));
  const sxx = measured.reduce((n, s) => n + (s.t - mt) ** 2, 0);
  const slopePerSecond = sxx > 0 ? measured.reduce((n, s) => n + (s.t - mt) * (s.rss - mr), 0) / sxx : 0;
  const timed = (from: number, to: number, kind: string) => timings.filter((x) => x.kind === kind && x.t >= from && x.t < to).map((x) => x.ms);
  const latencyMs = Object.fromEntries(
    steps.map((st) => [st.kind, [round1(median(timed(warmupSeconds, warmupSeconds + fifth, st.kind))), round1(median(timed(seconds - fifth, seconds, st.kind)))] as [number, number]]),
  );
  return {
    seconds,
    requests,
    errors,
    byKind,
    rssStartMb: round1(rss[0]),
    rssEndMb: round1(rss[1]),
    rssMaxMb: round1(Math.max(...samples.map((s) => s.rss))),
    growthPct: growth(rss[0], rss[1]),
    heapStartMb: round1(heap[0]),
    heapEndMb: round1(heap[1]),
    heapGrowthPct: growth(heap[0], heap[1]),
    breakdownMb: { heapCapacity: windows("capacity"), extra: windows("extra"), allocatorSmallPages: windows("allocatorSmallPages") },
    throughputPerSecond: [rate(early), rate(late)],
    skippedOperations: skipped,
    rssSlopeMbPerMin: Math.round(slopePerSecond * 60 * 100) / 100,
    latencyMs,
    samples: samples.map((s) => `${Math.round(s.t)}:${s.rss.toFixed(0)}/${s.heap.toFixed(1)}/${s.capacity.toFixed(0)}`).join(" "),
  };
}
