import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { sql } from "drizzle-orm";
import { openPostgres, rows } from "../../db/client";
import { isUnavailable } from "../../server/errors";
import { ADMIN_URL, TEST_DB_KIND } from "../support/db";

/**
 * A database restart can terminate a connection that is still starting up. postgres.js fetches
 * array types on every new connection by default; a backend terminated during that fetch left a
 * rejected promise nobody awaited (an unhandled rejection that failed CI's fault tests) and replayed
 * the old backend's error onto the next query. Orgdesk's connections skip that fetch.
 *
 * A proxy in front of the machine's PostgreSQL answers the first query message of the first
 * connection the way a fast shutdown does (FATAL 57P01), then closes it; later connections pass.
 */
const skip = TEST_DB_KIND === "pglite";

/** A FATAL ErrorResponse as PostgreSQL sends it when terminating a backend. */
function terminated(): Uint8Array {
  const fields = ["SFATAL", "VFATAL", "C57P01", "Mterminating connection due to administrator command"].map((f) => `${f}\0`).join("") + "\0";
  const body = Buffer.from(fields, "utf8");
  const out = Buffer.alloc(1 + 4 + body.length);
  out.write("E", 0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function startProxy(target: URL) {
  let connections = 0;
  type State = { n: number; up: Socket | null; pending: Uint8Array[]; startup: boolean };
  const proxy = Bun.listen<State>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const state: State = { n: ++connections, up: null, pending: [], startup: true };
        client.data = state;
        void Bun.connect({
          hostname: target.hostname,
          port: Number(target.port || 5432),
          socket: { data: (_s, d) => void client.write(d), close: () => void client.end(), error: () => void client.end() },
        }).then((up) => {
          state.up = up;
          for (const d of state.pending) up.write(d);
          state.pending = [];
        }, () => client.end());
      },
      data(client, d) {
        const state = client.data;
        const first = d[0];
        // The start-up packet has no type byte; after it, P (parse) or Q (query) is a query.
        if (!state.startup && state.n === 1 && (first === 0x50 || first === 0x51)) {
          client.write(terminated());
          client.end();
          state.up?.end();
          return;
        }
        state.startup = false;
        if (state.up) state.up.write(d);
        else state.pending.push(new Uint8Array(d));
      },
      close(client) {
        client.data.up?.end();
      },
    },
  });
  return { port: proxy.port, connections: () => connections, stop: () => proxy.stop(true) };
}

test.skipIf(skip)("a connection terminated while it starts up leaves no unhandled rejection, and the next query runs on a new connection", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const target = new URL(ADMIN_URL);
  const proxy = startProxy(target);
  const url = new URL(ADMIN_URL);
  url.port = String(proxy.port);
  const database = openPostgres(url.toString(), { max: 1, connectTimeoutSeconds: 2 });
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await database.close();
    proxy.stop();
  });

  // The first query meets the terminated backend: it fails as "unavailable" (the API answers 503), or runs on a reconnect.
  const first = await rows<{ n: number }>(database.db, sql`select 1 as n`).then(
    (r) => ({ ok: true as const, n: r[0]!.n }),
    (err: unknown) => ({ ok: false as const, unavailable: isUnavailable(err) }),
  );
  if (!first.ok) expect(first.unavailable).toBe(true);
  else expect(first.n).toBe(1);

  // The next queries run on a fresh connection, without the old backend's error.
  for (let i = 0; i < 3; i++) expect(await rows<{ n: number }>(database.db, sql`select ${i}::int as n`)).toEqual([{ n: i }]);
  await Bun.sleep(100);
  expect(unhandled).toEqual([]);
  expect(proxy.connections()).toBeGreaterThanOrEqual(2);
});
