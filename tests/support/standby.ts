import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { BIN, freeStablePort, must, onTeardown, type PrivatePostgres, postgresOwnedDir, run, startPrivatePostgres } from "./private-postgres";

/**
 * A primary and a streaming hot standby made for one test file: a private primary cluster
 * (tests/support/private-postgres.ts, so the machine's shared cluster and its pg_hba are never
 * touched), then `pg_basebackup -R` from it into a temporary directory, started on a free port.
 * The test pauses replay, stops and starts the standby itself.
 */
export interface Standby {
  port: number;
  url(database: string): string;
  /** `pg_wal_replay_pause()`: the standby keeps answering, with the data it had. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Waits until the standby has replayed everything the primary has written so far. */
  caughtUp(timeoutMs?: number): Promise<void>;
  start(): void;
  stop(): void;
}

export async function startPrimaryAndStandby(): Promise<{ primary: PrivatePostgres; standby: Standby }> {
  const primary = await startPrivatePostgres();
  const dir = postgresOwnedDir("orgdesk-standby-");
  const data = join(dir, "data");
  must([`${BIN}/pg_basebackup`, "-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", data, "-R", "-X", "stream", "--no-sync", "-c", "fast"]);
  const port = freeStablePort();
  const log = join(dir, "log");
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c hot_standby=on -c fsync=off`;
  const ctl = (...args: string[]) => [`${BIN}/pg_ctl`, "-D", data, ...args];
  const withLog = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
      throw new Error(`${(err as Error).message}\nlast lines of the standby's log:\n${tail}`);
    }
  };
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const onStandby = async <T>(fn: (sql: postgres.Sql) => Promise<T>) => {
    const sql = postgres(url("postgres"), { max: 1, onnotice: () => {}, fetch_types: false });
    try {
      return await fn(sql);
    } finally {
      await sql.end();
    }
  };
  const standby: Standby = {
    port,
    url,
    start: () => withLog(() => must(ctl("-l", log, "-o", options, "-w", "-t", "60", "start"))),
    stop: () => withLog(() => must(ctl("-m", "fast", "-w", "-t", "60", "stop"))),
    pauseReplay: () => onStandby(async (sql) => void (await sql`select pg_wal_replay_pause()`)),
    resumeReplay: () => onStandby(async (sql) => void (await sql`select pg_wal_replay_resume()`)),
    caughtUp: async (timeoutMs = 20_000) => {
      const p = postgres(primary.url("postgres"), { max: 1, onnotice: () => {}, fetch_types: false });
      try {
        const [{ lsn }] = (await p`select pg_current_wal_lsn()::text as lsn`) as unknown as [{ lsn: string }];
        const started = Date.now();
        for (;;) {
          const [{ done }] = await onStandby(async (sql) => (await sql`select pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn as done`) as unknown as [{ done: boolean }]);
          if (done) return;
          if (Date.now() - started > timeoutMs) throw new Error(`the standby did not replay up to ${lsn} within ${timeoutMs} ms`);
          await Bun.sleep(50);
        }
      } finally {
        await p.end();
      }
    },
  };
  standby.start();
  const destroy = () => {
    if (run(ctl("status")).ok) run(ctl("-m", "immediate", "-w", "stop"));
    rmSync(dir, { recursive: true, force: true });
  };
  onTeardown(destroy);
  process.once("exit", destroy);
  return { primary, standby };
}
