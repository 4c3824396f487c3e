import postgres from "postgres";
import { ADMIN_URL, urlFor } from "../support/db";
import { runSoak } from "./workload";

/**
 * `bun run soak`: the full soak, 30 minutes by default (SOAK_SECONDS), on a fresh database of the
 * PostgreSQL at TEST_DATABASE_URL (default 127.0.0.1:5432), dropped afterwards. The first 5 minutes
 * (SOAK_WARMUP_SECONDS) are not measured: the JIT's compiled code and the allocator's pages are
 * still filling then (docs/reliability.md, "Memory"). Exits non-zero on any error or when the
 * server's memory (RSS or live heap, after a full collection) grew more than 5 % after warm-up.
 * SOAK_KINDS (comma-separated request kinds) runs only those, to see which kind moves memory.
 * SOAK_HISTORY=growing sends the writes to the organizations the reports read (workload.ts).
 * SOAK_RATE (operations started per second, default 50) is a steady load this machine sustains
 * with room to spare: a saturated server's throughput, and with it its memory, follows whatever
 * else the machine runs. SOAK_SERVER_SOAK_ALLOCATOR_STATS_FILE=<path> has the server append the
 * allocator's counters at every sample (collect-on-signal.ts).
 */
const seconds = Number(process.env.SOAK_SECONDS ?? 1800);
const warmupSeconds = Number(process.env.SOAK_WARMUP_SECONDS ?? Math.min(300, Math.round(seconds / 3)));
const perSecond = Number(process.env.SOAK_RATE ?? 50);
const kinds = process.env.SOAK_KINDS?.split(",").map((k) => k.trim()).filter(Boolean);
const history = process.env.SOAK_HISTORY === "growing" ? "growing" : "steady";
const BOUND_PCT = 5;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
const name = `orgdesk_soak_${process.pid}`;
await admin.unsafe(`create database "${name}"`);
let failed = true;
try {
  console.log(`soak: ${seconds} s (${warmupSeconds} s warm-up) at ${perSecond} operations/s against ${name}, ${history} history${kinds ? `, only ${kinds.join(", ")}` : ""}`);
  const result = await runSoak({ seconds, warmupSeconds, perSecond, kinds, history, databaseUrl: urlFor(name), log: (line) => console.log(line) });
  console.log(JSON.stringify(result, null, 2));
  failed = result.errors.length > 0 || result.growthPct > BOUND_PCT || result.heapGrowthPct > BOUND_PCT;
  const memory = `RSS ${result.rssStartMb} → ${result.rssEndMb} MB (${result.growthPct} %, slope ${result.rssSlopeMbPerMin} MB/min after warm-up), live heap ${result.heapStartMb} → ${result.heapEndMb} MB (${result.heapGrowthPct} %), throughput ${result.throughputPerSecond[0]} → ${result.throughputPerSecond[1]} requests/s, ${result.skippedOperations} paced operations dropped`;
  console.log(failed ? `soak FAILED: ${result.errors.length} errors, ${memory}` : `soak passed: ${result.requests} requests, no errors, ${memory}`);
} finally {
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
}
process.exit(failed ? 1 : 0);
