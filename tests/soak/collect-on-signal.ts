import { heapStats } from "bun:jsc";

/**
 * Preloaded into the soak's server process (never in production): SIGUSR2 runs a full garbage
 * collection and prints the live JavaScript heap, so the soak samples memory at its floor instead
 * of wherever the sawtooth of a collected heap happens to be.
 */
process.on("SIGUSR2", () => {
  Bun.gc(true);
  console.error(`soak-heap ${heapStats().heapSize}`);
});
