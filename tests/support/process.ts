import { afterAll } from "bun:test";
import { resolve } from "node:path";
import { captureOutput, listeningPort, noteConfiguredSecrets } from "./server-process";

const ROOT = resolve(import.meta.dir, "../..");

export interface ServerProcess {
  proc: ReturnType<typeof Bun.spawn>;
  base: string;
  port: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code, or null if it has not exited within `ms`. */
  exited(ms: number): Promise<number | null>;
}

/**
 * Starts `bun server/index.ts` as its own process (as in production), with `env` on top of a
 * minimal environment, and waits until it listens. Killed after the file's tests if still running.
 * `preload` is a test module Bun loads before the server (test instrumentation).
 */
export async function spawnServer(env: Record<string, string>, options: { preload?: string } = {}): Promise<ServerProcess> {
  noteConfiguredSecrets(env);
  const proc = Bun.spawn(["bun", ...(options.preload ? ["--preload", options.preload] : []), "server/index.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", HOST: "127.0.0.1", PORT: "0", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = captureOutput(proc);
  const kill = () => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  };
  // Under bun test, after the file's tests; in a script (the soak), when it exits.
  try {
    afterAll(kill);
  } catch {
    process.once("exit", kill);
  }
  const port = await listeningPort(proc, output, 60_000);
  return {
    proc,
    port,
    base: `http://127.0.0.1:${port}`,
    output,
    exited: (ms) => Promise.race([proc.exited, Bun.sleep(ms).then(() => null)]),
  };
}
