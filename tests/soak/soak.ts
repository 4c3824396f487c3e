import postgres from "postgres";
import { ADMIN_URL, urlFor } from "../support/db";
import { runSoak } from "./workload";

/**
 * `bun run soak`: the full soak, 5 minutes by default (SOAK_SECONDS), on a fresh database of the
 * PostgreSQL at TEST_DATABASE_URL (default 127.0.0.1:5432), dropped afterwards. Exits non-zero
 * on any error or when the server's memory (RSS or live heap, after a full collection) grew more
 * than 10 % after warm-up.
 */
const seconds = Number(process.env.SOAK_SECONDS ?? 300);
const perSecond = Number(process.env.SOAK_RATE ?? 200);
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
const name = `orgdesk_soak_${process.pid}`;
await admin.unsafe(`create database "${name}"`);
let failed = true;
try {
  console.log(`soak: ${seconds} s at ${perSecond} operations/s against ${name}`);
  const result = await runSoak({ seconds, perSecond, databaseUrl: urlFor(name), log: (line) => console.log(line) });
  console.log(JSON.stringify(result, null, 2));
  failed = result.errors.length > 0 || result.growthPct > 10 || result.heapGrowthPct > 10;
  const memory = `RSS ${result.rssStartMb} → ${result.rssEndMb} MB (${result.growthPct} %), live heap ${result.heapStartMb} → ${result.heapEndMb} MB (${result.heapGrowthPct} %)`;
  console.log(failed ? `soak FAILED: ${result.errors.length} errors, ${memory}` : `soak passed: ${result.requests} requests, no errors, ${memory}`);
} finally {
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
}
process.exit(failed ? 1 : 0);
