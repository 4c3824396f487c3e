import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO_ORGS } from "../../server/demo/seed";
import { captureOutput, ROOT, waitForOutput } from "../support/server-process";
import { waitFor } from "../support/wait";

/**
 * The README's first command, `bun run demo`, as a newcomer runs it: a fresh embedded database
 * seeded with a year of history and usage, then the background jobs, whose automatic month close
 * issues the past months' invoices. The jobs must not start before the seeding ends: the month
 * close finalized months while the seeding still backdated changes into them, and the demo stopped
 * with "2026-11 is closed".
 */
const dataDir = mkdtempSync(join(tmpdir(), "orgdesk-demo-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const KEY = "demo-command-key";

test("bun run demo seeds a year of history and usage on a fresh embedded database, then closes the past months", async () => {
  const child = Bun.spawn(["bun", "run", "scripts/demo.ts"], {
    cwd: ROOT,
    env: { ...process.env, DATA_DIR: dataDir, PORT: "0", HOST: "127.0.0.1", ADMIN_API_KEY: KEY, DATABASE_URL: "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  // The demo prints its API key on purpose, which the suite's scan of server logs
  // (tests/support/log-capture.ts) would rightly flag anywhere else.
  const output = captureOutput(child, { scanned: false });
  try {
    // Seeding takes about a minute here; building the web app (when no fresh build exists) another.
    const port = Number((await waitForOutput(child, output, /Web app:\s+http:\/\/localhost:(\d+)\//, 280_000, "bun run demo"))[1]);
    expect(output()).toMatch(/8 organizations, 34 agents/);
    const events = Number(output().match(/(\d+) usage events/)?.[1]);
    expect(events).toBeGreaterThan(10_000);

    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { "x-api-key": KEY } });
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      return res.json() as Promise<any>;
    };
    const { organizations } = await get("/api/organizations?limit=100");
    expect(organizations.map((o: { name: string }) => o.name)).toEqual(expect.arrayContaining(DEMO_ORGS.map((o) => o.name)));
    const mail = organizations.find((o: { name: string }) => o.name === "AgenticMail");
    // Usage in every past month: none of it was refused as falling in a closed month.
    const { summary } = await get(`/api/organizations/${mail.id}/billing-summary`);
    const past = summary.slice(0, -1) as { month: string; total_cost_usd: string }[];
    expect(past.length).toBeGreaterThanOrEqual(11);
    for (const m of past) expect({ month: m.month, cost: Number(m.total_cost_usd) > 0 }).toEqual({ month: m.month, cost: true });
    // Then the jobs run: the automatic close issues the past months' invoices.
    const closed = await waitFor("the past months' invoices", async () => {
      const { invoices } = await get(`/api/organizations/${mail.id}/invoices`);
      const finalized = (invoices as { status: string; month: string }[]).filter((i) => i.status === "finalized");
      return finalized.length >= 11 ? finalized : null;
    }, 60_000, 500);
    expect(new Set(closed.map((i) => i.month)).size).toBe(closed.length);
  } finally {
    child.kill("SIGTERM");
    await Promise.race([child.exited, Bun.sleep(10_000).then(() => child.kill("SIGKILL"))]);
  }
}, 320_000);
