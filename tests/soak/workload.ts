import { readFileSync } from "node:fs";
import { client } from "../support/http";
import { spawnServer } from "../support/process";

/**
 * A bounded mixed workload against the server running as its own process: reads, billing
 * summaries, usage batches, moves, rate changes, toggles, create-and-delete. Every answer must be
 * a success; the server's resident memory is sampled every second.
 */
export interface SoakResult {
  seconds: number;
  requests: number;
  errors: string[];
  byKind: Record<string, number>;
  rssStartMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  rssMedianStartMb: number;
  rssMedianEndMb: number;
  /** Growth of the RSS floor (10th percentile) from the second to the last fifth of the run. */
  growthPct: number;
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
  perSecond = 200,
  warmupSeconds = Math.min(60, Math.round(seconds / 3)),
  log = () => {},
}: {
  seconds: number;
  databaseUrl: string;
  workers?: number;
  /** Operations started per second, all workers together: a steady load, not a flood. */
  perSecond?: number;
  /** Not measured: JIT, caches and the connection pool fill up first. */
  warmupSeconds?: number;
  log?: (line: string) => void;
}): Promise<SoakResult> {
  const server = await spawnServer({
    DATABASE_URL: databaseUrl,
    ADMIN_API_KEY: KEY,
    RATE_LIMIT_PER_KEY: "0",
    RATE_LIMIT_PER_ADDRESS: "0",
  });
  const api = client(server.base, KEY);
  const orgs: string[] = [];
  const agents: string[] = [];
  for (let i = 0; i < 6; i++) orgs.push((await api.post("/api/organizations", { name: `Soak Org ${i}`, billing_rate_per_agent: "49.00" })).body.id);
  for (let i = 0; i < 24; i++) agents.push((await api.post("/api/agents", { name: `Soak Agent ${i}`, org_id: orgs[i % orgs.length] })).body.id);
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
  const steps: Step[] = [
    { kind: "list organizations", weight: 25, ok: [200], run: async () => [await api.get("/api/organizations?limit=50")] },
    { kind: "list agents", weight: 15, ok: [200], run: async () => [await api.get("/api/agents?limit=100")] },
    { kind: "get organization", weight: 10, ok: [200], run: async () => [await api.get(`/api/organizations/${pick(orgs)}`)] },
    { kind: "billing summary", weight: 12, ok: [200], run: async () => [await api.get(`/api/organizations/${pick(orgs)}/billing-summary?from=${month}&to=${month}`)] },
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
    { kind: "move agent", weight: 10, ok: [200], run: async () => [await api.post(`/api/agents/${pick(agents)}/assign-org`, { orgId: pick(orgs) })] },
    { kind: "change rate", weight: 5, ok: [200], run: async () => [await api.patch(`/api/organizations/${pick(orgs)}`, { billing_rate_per_agent: pick(["49.00", "99.00", "10.50"]) })] },
    { kind: "toggle", weight: 4, ok: [200], run: async () => [await api.post(`/api/organizations/${pick(orgs)}/toggle`, { is_active: rand() < 0.7 })] },
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
  const totalWeight = steps.reduce((n, s) => n + s.weight, 0);
  const choose = () => {
    let r = rand() * totalWeight;
    for (const s of steps) if ((r -= s.weight) < 0) return s;
    return steps[0]!;
  };

  const errors: string[] = [];
  const byKind: Record<string, number> = {};
  let requests = 0;
  const samples: { t: number; rss: number }[] = [];
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const sampler = setInterval(() => {
    try {
      samples.push({ t: (Date.now() - started) / 1000, rss: rssMb(server.proc.pid) });
    } catch {}
  }, 1000);
  let lastLog = started;

  let operations = 0;
  async function worker() {
    while (Date.now() < deadline) {
      // Pace: operation n starts no earlier than n / perSecond seconds into the run.
      const due = started + (operations++ * 1000) / perSecond;
      if (due > Date.now()) await Bun.sleep(due - Date.now());
      const step = choose();
      try {
        for (const res of await step.run()) {
          requests++;
          if (!step.ok.includes(res.status)) errors.push(`${step.kind}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
      } catch (err) {
        errors.push(`${step.kind}: ${String(err)}`);
      }
      byKind[step.kind] = (byKind[step.kind] ?? 0) + 1;
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`${Math.round((Date.now() - started) / 1000)} s: ${requests} requests, ${errors.length} errors, RSS ${samples.at(-1)?.rss.toFixed(1)} MB`);
      }
    }
  }
  await Promise.all(Array.from({ length: workers }, worker));
  clearInterval(sampler);
  server.proc.kill("SIGTERM");
  const code = await server.exited(30_000);
  if (code !== 0) errors.push(`the server exited with ${code} after SIGTERM`);

  // Memory after warm-up (the first fifth of the measured span) against the last fifth. RSS of a garbage-
  // collected process is a sawtooth whose peaks depend on when collections run; what a leak
  // raises is the floor the collections return to, so each window is summed up by its 10th
  // percentile. Median and peak are reported alongside.
  const fifth = (seconds - warmupSeconds) / 5;
  const early = samples.filter((s) => s.t >= warmupSeconds && s.t < warmupSeconds + fifth).map((s) => s.rss);
  const late = samples.filter((s) => s.t >= seconds - fifth).map((s) => s.rss);
  const start = percentile(early, 0.1);
  const end = percentile(late, 0.1);
  return {
    seconds,
    requests,
    errors,
    byKind,
    rssStartMb: Math.round(start * 10) / 10,
    rssEndMb: Math.round(end * 10) / 10,
    rssMaxMb: Math.round(Math.max(...samples.map((s) => s.rss)) * 10) / 10,
    rssMedianStartMb: Math.round(percentile(early, 0.5) * 10) / 10,
    rssMedianEndMb: Math.round(percentile(late, 0.5) * 10) / 10,
    growthPct: Math.round(((end - start) / start) * 1000) / 10,
  };
}
