import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeStablePort } from "./private-postgres";

/**
 * A private PgBouncer in transaction pooling mode in front of the machine's PostgreSQL, started and
 * stopped by the test that needs it (Debian's `pgbouncer`; `.ci/run` installs it). Its
 * configuration lives in a temporary directory; every database name is passed through to
 * 127.0.0.1:5432. The caller stops it (an `afterAll` at the level of its `describe`; a hook
 * registered from inside another hook or a test would not run when expected). PgBouncer refuses to run as root, so as root it switches to `postgres`.
 */
const BIN = process.env.PGBOUNCER_BIN ?? "/usr/sbin/pgbouncer";
const isRoot = process.getuid?.() === 0;

export interface PgBouncer {
  port: number;
  url(database: string): string;
  /** PgBouncer's own log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export function pgbouncerInstalled(): boolean {
  return existsSync(BIN);
}

export async function startPgBouncer(options: { upstream?: { host: string; port: number }; poolSize?: number; statementTimeoutMs?: number } = {}): Promise<PgBouncer> {
  const upstream = options.upstream ?? { host: "127.0.0.1", port: 5432 };
  const dir = mkdtempSync(join(tmpdir(), "orgdesk-pgbouncer-"));
  const port = freeStablePort();
  const logFile = join(dir, "pgbouncer.log");
  // Behind a transaction pooler the statement timeout cannot travel in the startup packet; the
  // pooler sets it on each server connection it opens (docs/operations.md, PgBouncer).
  const connectQuery = options.statementTimeoutMs ? ` connect_query='set statement_timeout = ${options.statementTimeoutMs}'` : "";
  writeFileSync(join(dir, "userlist.txt"), '"postgres" ""\n');
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    `[databases]
* = host=${upstream.host} port=${upstream.port}${connectQuery}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "userlist.txt")}
pool_mode = transaction
default_pool_size = ${options.poolSize ?? 10}
max_client_conn = 400
ignore_startup_parameters = extra_float_digits
admin_users = postgres
logfile = ${logFile}
pidfile = ${join(dir, "pgbouncer.pid")}
`,
  );
  if (isRoot) {
    const uid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
    const gid = Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim());
    for (const f of ["", "pgbouncer.ini", "userlist.txt"]) chownSync(join(dir, f), uid, gid);
  }
  // `-u`: started as root, PgBouncer switches to that user itself (and stays our direct child).
  const child = Bun.spawn([BIN, ...(isRoot ? ["-u", "postgres"] : []), join(dir, "pgbouncer.ini")], { stdout: "pipe", stderr: "pipe" });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const started = Date.now();
  for (;;) {
    if (Bun.spawnSync(["pg_isready", "-h", "127.0.0.1", "-p", String(port), "-q"]).exitCode === 0) break;
    if (child.exitCode !== null || Date.now() - started > 15_000) {
      child.kill();
      throw new Error(`pgbouncer did not start on port ${port}:\n${log()}\n${await new Response(child.stderr).text()}`);
    }
    await Bun.sleep(50);
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // SIGTERM: immediate shutdown (SIGINT would wait for clients to leave).
    child.kill("SIGTERM");
    await Promise.race([child.exited, Bun.sleep(5000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", () => {
    if (!stopped) child.kill("SIGKILL");
  });
  return { port, url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`, log, stop };
}
