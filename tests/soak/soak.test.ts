import { describe, expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { runSoak } from "./workload";

/**
 * The soak in short form (SOAK_SECONDS, default 45, the first 15 s not measured); `bun run soak` runs it for 30 minutes.
 * Multi-process, PostgreSQL only. Asserts errors and memory growth, never speed.
 */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 45);
const database = await testDatabase();

describe("soak", () => {
  test(
    `a mixed workload for ${SECONDS} s has no errors and the server's memory stays within 10 %`,
    async () => {
      const result = await runSoak({ seconds: SECONDS, warmupSeconds: Math.round(SECONDS / 3), databaseUrl: database.url! });
      console.log(`soak: ${JSON.stringify(result)}`);
      expect(result.errors.slice(0, 10)).toEqual([]);
      expect(result.requests).toBeGreaterThan(0);
      // After a full collection before each sample (see workload.ts): resident memory and the live heap.
      expect(result.growthPct).toBeLessThanOrEqual(10);
      expect(result.heapGrowthPct).toBeLessThanOrEqual(10);
      expect(result.heapStartMb).toBeGreaterThan(0);
    },
    (SECONDS + 120) * 1000,
  );
});
