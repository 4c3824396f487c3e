/**
 * The one place that builds the web console (web/ → web/build) and tells whether a build is
 * needed: used by `bun run start`, `bun run demo` and the browser tests.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
export const WEB_BUILD = join(ROOT, "web/build");

/** What the build is made from: the app, its configuration, and the server code it imports. */
const SOURCES = ["web/src", "web/static", "web/svelte.config.js", "web/preload-routes.js", "web/vite.config.ts", "server/shared", "server/modules", "server/trpc"];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

/** `missing` (no build), `stale` (a source changed after the build) or `fresh`. */
export function webBuildState(root = ROOT): "missing" | "stale" | "fresh" {
  const index = join(root, "web/build/index.html");
  if (!existsSync(index)) return "missing";
  const built = statSync(index).mtimeMs;
  return SOURCES.some((p) => newest(join(root, p)) > built) ? "stale" : "fresh";
}

/** Builds the web console into web/build; throws with the build's output when it fails. */
export function buildWebApp(root = ROOT): { seconds: number } {
  const started = performance.now();
  const result = Bun.spawnSync(["bun", "--bun", "vite", "build"], { cwd: join(root, "web"), stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    const output = `${result.stderr.toString()}\n${result.stdout.toString()}`.trim();
    throw new Error(`the web console could not be built (bun --bun vite build in web/ exited ${result.exitCode}):\n${output.slice(-3000)}`);
  }
  if (!existsSync(join(root, "web/build/index.html"))) throw new Error("the web console build wrote no web/build/index.html");
  return { seconds: Math.round((performance.now() - started) / 100) / 10 };
}

/**
 * What `bun run start` does before serving: when no build of the console exists (a fresh clone)
 * and WEB_DIR does not name one, builds it, saying so. A build older than its sources is kept and
 * named (rebuilding is `bun run build:web`): a start never rebuilds what exists.
 */
export function ensureWebConsole(env: Record<string, string | undefined> = process.env, log: (line: string) => void = console.log): void {
  if (env.WEB_DIR) return;
  const state = webBuildState();
  if (state === "stale") log("The web console in web/build is older than its sources; `bun run build:web` rebuilds it.");
  if (state !== "missing" || !existsSync(join(ROOT, "web/src"))) return;
  log("No build of the web console in web/build yet: building it now (about a minute, once)…");
  const { seconds } = buildWebApp();
  log(`Built the web console into web/build in ${seconds} s.`);
}
