import { afterAll } from "bun:test";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A private PostgreSQL 15 cluster for fault tests: created with the Debian binaries in a temporary
 * directory, on a free port, started, stopped and crashed by the test itself. The machine's shared
 * cluster (other tests, CI) is never touched.
 */
const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

const isRoot = process.getuid?.() === 0;

function run(cmd: string[]): { ok: boolean; out: string } {
  const full = isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const res = Bun.spawnSync(full, { stdout: "pipe", stderr: "pipe" });
  return { ok: res.exitCode === 0, out: `${res.stdout.toString()}${res.stderr.toString()}` };
}

function must(cmd: string[]): string {
  const res = run(cmd);
  if (!res.ok) throw new Error(`${cmd.join(" ")} failed:\n${res.out}`);
  return res.out;
}

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export interface PrivatePostgres {
  port: number;
  url(database: string): string;
  start(): void;
  /** `fast` disconnects clients and shuts down cleanly; `immediate` is a crash (recovery on start). */
  stop(mode: "fast" | "immediate"): void;
  running(): boolean;
  /** Stops the cluster and deletes its directory. */
  destroy(): void;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), "orgdesk-pg-"));
  if (isRoot) {
    const uid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
    const gid = Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  must([`${BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--no-locale"]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60`;
  const ctl = (...args: string[]) => [`${BIN}/pg_ctl`, "-D", data, ...args];
  let destroyed = false;
  const pg: PrivatePostgres = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => void must(ctl("-l", join(dir, "log"), "-o", options, "-w", "-t", "60", "start")),
    stop: (mode) => void must(ctl("-m", mode, "-w", "-t", "60", "stop")),
    running: () => run(ctl("status")).ok,
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      if (pg.running()) run(ctl("-m", "immediate", "-w", "stop"));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  afterAll(() => pg.destroy());
  process.once("exit", () => pg.destroy());
  return pg;
}
