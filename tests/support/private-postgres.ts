import { afterAll } from "bun:test";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A private PostgreSQL 15 cluster for fault tests: created with the Debian binaries in a temporary
 * directory, on a free port, started, stopped and crashed by the test itself. The machine's shared
 * cluster (other tests, CI) is never touched.
 */
export const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

const isRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL tool (as `postgres` when we are root). */
export function run(cmd: string[]): { ok: boolean; out: string } {
  const full = isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const res = Bun.spawnSync(full, { stdout: "pipe", stderr: "pipe" });
  return { ok: res.exitCode === 0, out: `${res.stdout.toString()}${res.stderr.toString()}` };
}

export function must(cmd: string[]): string {
  const res = run(cmd);
  if (!res.ok) throw new Error(`${cmd.join(" ")} failed:\n${res.out}`);
  return res.out;
}

/** Runs `fn` after the test file (under `bun test`) or when the process exits (in a script). */
export function onTeardown(fn: () => void | Promise<void>) {
  try {
    afterAll(fn);
  } catch {
    process.once("exit", () => void fn());
  }
}

/** The kernel's range of ports for outgoing connections, from /proc (Linux's default otherwise). */
export function ephemeralPortRange(): [number, number] {
  const path = "/proc/sys/net/ipv4/ip_local_port_range";
  const [low, high] = existsSync(path) ? readFileSync(path, "utf8").trim().split(/\s+/).map(Number) : [];
  return low && high ? [low, high] : [32768, 60999];
}

/**
 * A free port below the ephemeral range. The cluster is stopped and started again on the same
 * port; a port inside the ephemeral range can be taken meanwhile as the local end of any outgoing
 * connection (the test's own HTTP clients, the server reconnecting), and the restart then fails
 * with "Address already in use".
 */
export function freeStablePort(): number {
  const [low] = ephemeralPortRange();
  const floor = 20_000;
  const ceiling = Math.max(floor + 1000, low) - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = floor + Math.floor(Math.random() * (ceiling - floor));
    try {
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error(`no free port between ${floor} and ${ceiling}`);
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

/** A new temporary directory the PostgreSQL tools may write (owned by `postgres` when we are root). */
export function postgresOwnedDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (isRoot) {
    const uid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
    const gid = Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim());
    chownSync(dir, uid, gid);
  }
  return dir;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = postgresOwnedDir("orgdesk-pg-");
  const data = join(dir, "data");
  must([`${BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--no-locale"]);
  const port = freeStablePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60`;
  const ctl = (...args: string[]) => [`${BIN}/pg_ctl`, "-D", data, ...args];
  const log = join(dir, "log");
  /** pg_ctl's own output says little when the server fails to start; the server log says why. */
  const withLog = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
      throw new Error(`${(err as Error).message}\nlast lines of the server log:\n${tail}`);
    }
  };
  let destroyed = false;
  const pg: PrivatePostgres = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => withLog(() => must(ctl("-l", log, "-o", options, "-w", "-t", "60", "start"))),
    stop: (mode) => withLog(() => must(ctl("-m", mode, "-w", "-t", "60", "stop"))),
    running: () => run(ctl("status")).ok,
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      if (pg.running()) run(ctl("-m", "immediate", "-w", "stop"));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  onTeardown(() => pg.destroy());
  process.once("exit", () => pg.destroy());
  return pg;
}
