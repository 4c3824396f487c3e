import { afterAll, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { rows } from "../../db/client";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { startProcess } from "../support/server-process";

/**
 * The bulk import's memory does not grow with the file: a server process (its own RSS, nothing of
 * the test's) imports a streamed file of 800,000 lines (~140 MB) in its default batches; its resident memory once warmed up
 * stays within a bound that is a fraction of the bytes it reads afterwards (medians of windows, see below). Measured, not timed.
 * The file is long enough that the bound (half of 70 MB) stands well clear of the allocator's noise (a window's median moved
 * by up to 5 MB between runs here; 400,000 lines, with a bound of 18 MB, once failed in CI on a machine that ran it twice as fast).
 */
const database = await testDatabase();
const ctx = ctxFor(database);
const org = await makeOrg(ctx, { created_at: "2025-01-01T00:00:00Z" });
const agent = await makeAgent(ctx, { org_id: org.id, external_id: `mem-${process.pid}`, created_at: "2025-01-01T00:00:00Z" });
const KEY = "import-memory-admin-key";
const server = await startProcess("server/index.ts", { DATABASE_URL: database.url!, ADMIN_API_KEY: KEY, WEB_DIR: "", JOBS_ENABLED: "0", LOG_LEVEL: "warn" });
afterAll(() => server.stop());

const ROWS = 800_000;
const PER_CHUNK = 1000;

test("importing 800,000 streamed rows: the server's RSS after warm-up does not grow with the bytes it reads", async () => {
  const encoder = new TextEncoder();
  const samples: { rows: number; bytes: number; rss: number }[] = [];
  let sent = 0;
  let bytes = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= ROWS) return controller.close();
      let text = sent === 0 ? "id,agent_external_id,model,provider,input_tokens,output_tokens,cache_read_tokens,occurred_at\n" : "";
      for (let i = 0; i < PER_CHUNK; i++, sent++) {
        const day = String(1 + (sent % 28)).padStart(2, "0");
        // Long ids (as some runtimes make them: a trace and span id): ~250 bytes a line.
        text += `mem-${process.pid}-${"0".repeat(100)}-${String(sent).padStart(7, "0")},${agent.external_id},gpt-4o-mini-${sent % 7},openai,${sent % 5000},${sent % 900},${sent % 300},2025-0${1 + (sent % 9)}-${day}T12:34:56.789Z\n`;
      }
      const chunk = encoder.encode(text);
      bytes += chunk.byteLength;
      samples.push({ rows: sent, bytes, rss: server.rss() });
      controller.enqueue(chunk);
    },
  });
  const res = await fetch(`${server.base}/api/usage/import`, { method: "POST", headers: { "content-type": "text/csv", "x-api-key": KEY }, body, duplex: "half" } as RequestInit);
  const answer = (await res.json()) as { accepted: number; rejected: number };
  expect(res.status).toBe(200);
  expect(answer).toMatchObject({ accepted: ROWS, rejected: 0 });
  samples.push({ rows: sent, bytes, rss: server.rss() });
  const [stored] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from usage_events where agent_id = ${agent.id}::uuid`);
  expect(Number(stored!.n)).toBe(ROWS);

  // Warm-up: the first 200,000 rows (JIT, the pool's connections, the first batches' buffers).
  // Then the second quarter of the file against its last quarter, each by the median of its samples: a single
  // sample lands wherever the sawtooth of a batch's garbage happens to be (20 MB apart on a loaded
  // machine), the median of a window does not.
  const warm = samples.filter((s) => s.rows >= 200_000 && s.rows <= 400_000);
  const late = samples.filter((s) => s.rows > 600_000);
  const peak = (list: typeof samples) => Math.max(...list.map((s) => s.rss));
  const median = (list: typeof samples) => [...list.map((s) => s.rss)].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  const readAfter = bytes - warm.at(-1)!.bytes;
  const growth = median(late) - median(warm);
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  console.log(`import of ${ROWS} rows (${mb(bytes)}): RSS median ${mb(median(warm))} after warm-up, ${mb(median(late))} in the last quarter (peak ${mb(peak(samples))}); ${mb(readAfter)} read meanwhile`);
  // Buffering the file (or any part proportional to it) would add at least the bytes read (twice
  // that as JavaScript strings); half of them is the bound, the rest is allocator noise.
  expect(growth).toBeLessThan(readAfter / 2);
  expect(peak(samples)).toBeLessThan(300 * 1024 * 1024);
}, 300_000);
