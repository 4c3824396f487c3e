import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks a second of /proc's CPU times (USER_HZ: 100 on Linux's every usual build). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) of one process so far, ms; 0 when it is gone. */
function processCpuMs(pid: string): { name: string; ms: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name is in parentheses and may contain spaces; the fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ms };
  } catch {
    return { name: "", ms: 0 };
  }
}

/**
 * CPU time so far of this process and of every PostgreSQL server process on the machine, ms (Linux
 * only; 10 ms granularity). Differences over a phase tell where its CPU went, which a shared machine's
 * wall time does not.
 */
export function cpuMs(): { self: number; postgres: number } {
  let postgres = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const p = processCpuMs(entry);
    if (p.name === "postgres") postgres += p.ms;
  }
  return { self: processCpuMs("self").ms, postgres };
}
