import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

/** One line of the results table. `status` is `not measured` when a prerequisite is missing. */
export interface Row {
  id: string;
  what: string;
  /** The measured figure, in words (e.g. "82 % of baseline (4 310 vs 5 250 req/s)"). */
  figure: string;
  target: string;
  status: "pass" | "FAIL" | "not measured";
  /** Why it missed, what would close it, or why it was not measured. */
  note?: string;
}

export const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
export const times = (x: number) => `${x.toFixed(2)}×`;
export const num = (x: number, digits = 0) => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const ms = (x: number) => (x >= 100 ? `${x.toFixed(0)} ms` : x >= 10 ? `${x.toFixed(1)} ms` : `${x.toFixed(2)} ms`);
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export function machineDescription(pgVersion: string): string[] {
  let model = cpus()[0]?.model ?? "unknown CPU";
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    model = info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? model;
  } catch {}
  let load = "";
  try {
    load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {}
  return [
    `CPU: ${cpus().length} × ${model}`,
    `Memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `PostgreSQL: ${pgVersion}`,
    `Bun: ${Bun.version}`,
    `Load average at start: ${load}`,
  ];
}

export function table(rows: Row[]): string {
  const head = ["", "Benchmark", "Result", "Target", "Status"];
  const body = rows.map((r) => [r.id, r.what, r.figure, r.target, r.status]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export function markdownTable(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  return [
    "| | Benchmark | Result | Target | Status |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.id} | ${esc(r.what)} | ${esc(r.figure)} | ${esc(r.target)} | ${r.status === "pass" ? "pass" : `**${r.status}**`} |`),
  ].join("\n");
}

/** Thrown when a benchmark cannot run because what it measures is not there yet; reported, never faked. */
export class NotMeasured extends Error {}
