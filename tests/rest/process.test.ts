import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { testDatabase } from "../support/db";
import { client } from "../support/http";
import { spawnServer } from "../support/process";

/**
 * The server as its own process, as it runs in production: graceful shutdown, the statement
 * timeout, secrets kept out of the log, slow clients. Multi-process, so PostgreSQL only.
 */
const database = await testDatabase();
const url = database.url!;
const ADMIN_KEY = "admin-secret-key-4711";
const DB_PASSWORD = "db-secret-password-0815";
// Trust authentication ignores the password; it is there to prove it never reaches the log.
const urlWithPassword = url.replace("postgres://postgres@", `postgres://postgres:${DB_PASSWORD}@`);
const sql = postgres(url, { max: 2, onnotice: () => {} });

/** Holds a row lock on an organization in another session until `release()`. */
async function lockOrganization(id: string) {
  const conn = await sql.reserve();
  await conn`begin`;
  await conn`select 1 from organizations where id = ${id} for update`;
  return {
    release: async () => {
      await conn`commit`;
      conn.release();
    },
  };
}

/** Waits until `n` statements of the database wait for a lock. */
async function untilWaiting(n = 1) {
  const until = Date.now() + 20_000;
  for (;;) {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
    if ((row?.n ?? 0) >= n) return;
    if (Date.now() > until) throw new Error("no statement is waiting for the lock");
    await Bun.sleep(25);
  }
}

async function rawSocket(port: number, text: string) {
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data() {},
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  if (text) socket.write(text);
  return { socket, isClosed: () => closed };
}

describe("graceful shutdown", () => {
  test("SIGTERM stops accepting connections but finishes the requests in flight, then exits 0", async () => {
    const server = await spawnServer({ DATABASE_URL: url, ADMIN_API_KEY: ADMIN_KEY });
    const api = client(server.base, ADMIN_KEY);
    const org = (await api.post("/api/organizations", { name: "Shutdown Co" })).body;
    const lock = await lockOrganization(org.id);
    const inFlight = api.patch(`/api/organizations/${org.id}`, { description: "written during shutdown" });
    await untilWaiting();
    server.proc.kill("SIGTERM");
    await Bun.sleep(300);
    // New connections are refused while the request in flight still waits.
    expect(await fetch(`${server.base}/api/health`).then(() => "answered", () => "refused")).toBe("refused");
    expect(server.proc.exitCode).toBeNull();
    await lock.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.description).toBe("written during shutdown");
    expect(await server.exited(20_000)).toBe(0);
    const [row] = await sql<{ description: string }[]>`select description from organizations where id = ${org.id}`;
    expect(row?.description).toBe("written during shutdown");
  });

  test("a client that never finishes its request cannot hold the shutdown past the grace period", async () => {
    const server = await spawnServer({ DATABASE_URL: url, ADMIN_API_KEY: ADMIN_KEY, SHUTDOWN_GRACE_S: "2" });
    const stalled = await rawSocket(
      server.port,
      `POST /api/organizations HTTP/1.1\r\nHost: x\r\nX-API-Key: ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`,
    );
    await Bun.sleep(200);
    server.proc.kill("SIGTERM");
    expect(await server.exited(30_000)).toBe(0);
    expect(server.output()).toContain("closing them");
    stalled.socket.end();
  });
});

describe("statement timeout and logging", () => {
  test("a statement over STATEMENT_TIMEOUT_MS is cancelled and answered 503 problem+json; the log names it without secrets", async () => {
    const server = await spawnServer({
      DATABASE_URL: urlWithPassword,
      ADMIN_API_KEY: ADMIN_KEY,
      ADMIN_PASSWORD: "owner-secret-password-42",
      STATEMENT_TIMEOUT_MS: "500",
    });
    const api = client(server.base, ADMIN_KEY);
    const org = (await api.post("/api/organizations", { name: "Slow Co" })).body;
    const lock = await lockOrganization(org.id);
    try {
      const res = await api.patch(`/api/organizations/${org.id}`, { description: "marker-in-parameters-1234" });
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toStartWith("application/problem+json");
      expect(res.headers.get("retry-after")).toBe("2");
      expect(res.body.detail).toBe("The request took too long and was cancelled; retry shortly");
      // Requests with wrong credentials, in both headers.
      expect((await client(server.base, "wrong-secret-key-9999").get("/api/organizations")).status).toBe(401);
      expect((await api.get("/api/organizations", { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(200);
      const log = server.output();
      expect(log).toContain(res.body.request_id);
      expect(log).toContain("57014");
      for (const secret of [ADMIN_KEY, DB_PASSWORD, "owner-secret-password-42", "wrong-secret-key-9999", "marker-in-parameters-1234"]) {
        expect(log).not.toContain(secret);
      }
    } finally {
      await lock.release();
      server.proc.kill("SIGTERM");
      await server.exited(20_000);
    }
    expect(server.output()).not.toContain(DB_PASSWORD);
  });
});

describe("slow clients", () => {
  test("hundreds of connections dribbling bytes do not keep normal requests from being served", async () => {
    const server = await spawnServer({ DATABASE_URL: url, ADMIN_API_KEY: ADMIN_KEY, IDLE_TIMEOUT_S: "2" });
    const api = client(server.base, ADMIN_KEY);
    const SLOW = 200;
    const slow = await Promise.all(Array.from({ length: SLOW }, () => rawSocket(server.port, "G")));
    const header = "ET /api/organizations HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let dribbling = true;
    const dribble = (async () => {
      for (let i = 0; dribbling; i++) {
        for (const s of slow) if (!s.isClosed()) s.socket.write(header[i] ?? "a");
        await Bun.sleep(500);
      }
    })();
    try {
      const silent = await rawSocket(server.port, "");
      const halfHeader = await rawSocket(server.port, "GET /api/health HTTP/1.1\r\nHo");
      let served = 0;
      for (let i = 0; i < 50; i++) {
        const res = await api.get(i % 2 ? "/api/health" : "/api/organizations?limit=5");
        if (res.status === 200) served++;
      }
      expect(served).toBe(50);
      // Silent connections are closed by the server after IDLE_TIMEOUT_S.
      const until = Date.now() + 20_000;
      while ((!silent.isClosed() || !halfHeader.isClosed()) && Date.now() < until) await Bun.sleep(100);
      expect({ silent: silent.isClosed(), halfHeader: halfHeader.isClosed() }).toEqual({ silent: true, halfHeader: true });
    } finally {
      dribbling = false;
      await dribble;
      for (const s of slow) s.socket.end();
      server.proc.kill("SIGTERM");
      await server.exited(20_000);
    }
  }, 60_000);
});
