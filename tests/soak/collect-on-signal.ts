import { heapStats } from "bun:jsc";

/**
 * Preloaded into the soak's server process (never in production): SIGUSR2 runs a full garbage
 * collection and prints the live JavaScript heap, so the soak samples memory at its floor instead
 * of wherever the sawtooth of a collected heap happens to be. Besides the live heap it prints the
 * heap's capacity (the blocks the collector keeps) and the memory JavaScript objects hold outside
 * it (buffers): what of RSS the JavaScript side accounts for.
 */
process.on("SIGUSR2", () => {
  Bun.gc(true);
  const heap = heapStats();
  console.error(`soak-heap ${heap.heapSize} ${heap.heapCapacity} ${heap.extraMemorySize}`);
});
