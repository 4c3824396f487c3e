import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { captureLog, noteSecret } from "./log-capture";

export const ROOT = resolve(import.meta.dir, "../..");

export interface ServerProcess {
  pid: number;
  port: number;
  base: string;
  /** Resident set size now, bytes (from /proc/<pid>/status). */
  rss(): number;
  stop(): Promise<void>;
  output(): string;
}

/**
 * Starts `bun run <script>` as its own process on a port the OS picks (PORT=0) and learns the port
 * from the line the server prints when it listens (`… listening on http://host:PORT …`).
 */
export async function startProcess(script: string, env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  noteConfiguredSecrets(env);
  const child = Bun.spawn(["bun", "run", script], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = captureOutput(child);
  const port = await listeningPort(child, output, timeoutMs, script);
  return {
    pid: child.pid,
    port,
    base: `http://127.0.0.1:${port}`,
    rss: () => rssOf(child.pid),
    output,
    stop: async () => {
      child.kill("SIGTERM");
      const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(8000).then(() => false)]);
      if (!exited) {
        child.kill("SIGKILL");
        await child.exited;
      }
    },
  };
}

type Child = { stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array>; exitCode: number | null; kill(signal?: number | string): void };

/** The secrets a server process is configured with, for the run's log scan (tests/support/log-capture.ts). */
export function noteConfiguredSecrets(env: Record<string, string | undefined>) {
  for (const name of ["ADMIN_API_KEY", "ADMIN_PASSWORD", "METRICS_TOKEN"]) noteSecret(env[name], name);
}

/**
 * Collects everything a child writes to stdout and stderr; the returned function reads it so far.
 * Complete lines also go to the run's server log, which is scanned for secrets at the end, unless
 * `scanned` is false (a command that prints a secret on purpose, like the demo's API key).
 */
export function captureOutput(child: Child, { scanned = true }: { scanned?: boolean } = {}): () => string {
  let log = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    let partial = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      log += text;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      if (lines.length && scanned) captureLog(lines.join("\n"));
    }
    if (scanned) captureLog(partial);
  };
  void pump(child.stdout);
  void pump(child.stderr);
  return () => log;
}

/** Waits for the `… listening on http://host:PORT …` line the server prints, and returns PORT. */
export async function listeningPort(child: Child, output: () => string, timeoutMs: number, name = "the server"): Promise<number> {
  return Number((await waitForOutput(child, output, /listening on https?:\/\/[^\s:]+:(\d+)/, timeoutMs, name))[1]);
}

/**
 * Waits until the child's output matches `pattern` and returns the match; throws (with the output)
 * as soon as the child exits, or kills it after `timeoutMs`.
 */
export async function waitForOutput(child: Child, output: () => string, pattern: RegExp, timeoutMs: number, name: string): Promise<RegExpMatchArray> {
  const started = Date.now();
  for (;;) {
    const m = output().match(pattern);
    if (m) return m;
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${output().slice(-4000)}`);
    if (Date.now() - started > timeoutMs) {
      child.kill();
      throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${output().slice(-4000)}`);
    }
    await Bun.sleep(25);
  }
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = status.match(/VmRSS:\s+(\d+)\s+kB/);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 100) {
  let peak = 0;
  let samples = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(pid));
      samples++;
    } catch {}
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssOf(pid));
      } catch {}
      return { peak, samples };
    },
  };
}
