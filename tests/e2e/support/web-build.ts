import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../../..");
export const WEB_BUILD = join(ROOT, "web/build");

/** Newest modification time under the given paths (what the web build is made from). */
function newest(paths: string[]): number {
  let max = 0;
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else max = Math.max(max, s.mtimeMs);
  };
  paths.forEach(walk);
  return max;
}

/**
 * Builds the web app once when web/build is missing or older than its sources (web/src, its
 * configs, and the server code it imports types and helpers from).
 */
export function ensureWebBuild(): string {
  const index = join(WEB_BUILD, "index.html");
  const sources = ["web/src", "web/static", "web/svelte.config.js", "web/vite.config.ts", "server/shared", "server/modules", "server/trpc"].map((p) => join(ROOT, p));
  if (existsSync(index) && statSync(index).mtimeMs >= newest(sources)) return WEB_BUILD;
  const result = Bun.spawnSync(["bun", "--bun", "vite", "build"], { cwd: join(ROOT, "web"), stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`web build failed:\n${result.stderr.toString()}\n${result.stdout.toString()}`);
  return WEB_BUILD;
}
