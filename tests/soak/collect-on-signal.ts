import { heapStats } from "bun:jsc";
import { appendFileSync } from "node:fs";

/**
 * Preloaded into the soak's server process (never in production): SIGUSR2 runs a full garbage
 * collection and prints the live JavaScript heap, so the soak samples memory at its floor instead
 * of wherever the sawtooth of a collected heap happens to be. Besides the live heap it prints the
 * heap's capacity (the blocks the collector keeps), the memory JavaScript objects hold outside it
 * (buffers) and the bytes of the allocator's (mimalloc's) pages for small blocks (up to 10 KB,
 * 64 KB pages), live or not: what of RSS the JavaScript side and the allocator account for.
 * SOAK_ALLOCATOR_STATS_FILE, when set, gets every sample's full allocator counters as one JSON line.
 */
process.on("SIGUSR2", () => {
  Bun.gc(true);
  const heap = heapStats();
  const allocator = (heap as { mimalloc?: { page_bins?: { current: number; block_size: number; page_size: number }[] } }).mimalloc;
  const smallPages = (allocator?.page_bins ?? []).filter((b) => b.block_size > 0 && b.block_size <= 10240).reduce((n, b) => n + b.current * b.page_size, 0);
  console.error(`soak-heap ${heap.heapSize} ${heap.heapCapacity} ${heap.extraMemorySize} ${smallPages}`);
  const file = process.env.SOAK_ALLOCATOR_STATS_FILE;
  if (file) appendFileSync(file, JSON.stringify({ t: Date.now(), heapSize: heap.heapSize, heapCapacity: heap.heapCapacity, mimalloc: allocator }) + "\n");
});
