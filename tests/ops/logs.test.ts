import { afterAll, describe, expect, test } from "bun:test";
import { createApp } from "../../server/app";
import { log, redact, setLogSink } from "../../server/observability/log";
import { TEST_CONFIG } from "../support/actors";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { ADMIN_KEY, client } from "../support/http";
import { findSecrets } from "../support/log-capture";
import { startProcess } from "../support/server-process";

/**
 * Logs (docs/operations.md, Logs): one JSON line per request with the documented fields, LOG_LEVEL,
 * unexpected errors as JSON lines too, and no secret ever written. The run-wide scan for secrets is
 * tests/support/log-capture.ts; the last test here shows that scan catches what it must.
 */
const onPostgres = TEST_DB_KIND === "postgres";
const database = await testDatabase();

/** The JSON lines a process wrote, skipping anything else. */
const jsonLines = (output: string) =>
  output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(!onPostgres)("request log lines of a server process", () => {
  test("every request writes one JSON line: time, request id, method, route template, status, duration, principal kind", async () => {
    const server = await startProcess("server/index.ts", { DATABASE_URL: database.url!, ADMIN_API_KEY: "log-test-admin-key", WEB_DIR: "", LOG_LEVEL: "info" });
    afterAll(() => server.stop());
    const api = client(server.base, "log-test-admin-key");
    const created = await api.post("/api/organizations", { name: "Logged Co" });
    const read = await api.get(`/api/organizations/${created.body.id}`);
    const anonymous = await client(server.base).get("/api/organizations");
    await Bun.sleep(100);
    const lines = jsonLines(server.output()).filter((l) => l.msg === "request");
    expect(lines).toHaveLength(3);
    const [post, get, denied] = lines;
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(["duration_ms", "level", "method", "msg", "principal", "request_id", "route", "status", "time"]);
      expect(new Date(l.time as string).toISOString()).toBe(l.time as string);
      expect(typeof l.duration_ms).toBe("number");
    }
    expect(post).toMatchObject({ method: "POST", route: "/api/organizations", status: 201, principal: "api_key", request_id: created.headers.get("x-request-id") });
    expect(get).toMatchObject({ method: "GET", route: "/api/organizations/:id", status: 200, principal: "api_key", request_id: read.headers.get("x-request-id") });
    expect(denied).toMatchObject({ route: "/api/organizations", status: 401, principal: "anonymous", request_id: anonymous.headers.get("x-request-id") });
    // The start-up lines are JSON too.
    expect(jsonLines(server.output()).some((l) => String(l.msg).includes("listening on"))).toBe(true);
  });

  test("LOG_LEVEL=warn writes no line for successful requests", async () => {
    const server = await startProcess("server/index.ts", { DATABASE_URL: database.url!, ADMIN_API_KEY: "log-test-admin-key", WEB_DIR: "", LOG_LEVEL: "warn" });
    afterAll(() => server.stop());
    expect((await client(server.base, "log-test-admin-key").get("/api/organizations")).status).toBe(200);
    await Bun.sleep(100);
    expect(jsonLines(server.output()).filter((l) => l.msg === "request")).toHaveLength(0);
  });

  test("an invalid LOG_LEVEL stops the server at start with a clear message", async () => {
    await expect(startProcess("server/index.ts", { DATABASE_URL: database.url!, WEB_DIR: "", LOG_LEVEL: "verbose" }, 20_000)).rejects.toThrow(/LOG_LEVEL must be one of debug, info, warn, error/);
  });
});

describe("unexpected errors and secrets", () => {
  test("an unexpected error is one JSON line with the request id and the error, and the client gets a bare 500/503", async () => {
    const lines: Record<string, unknown>[] = [];
    const previous = setLogSink((line) => lines.push(JSON.parse(line)));
    try {
      const broken = await testDatabase();
      const app = createApp({ database: broken, config: TEST_CONFIG });
      await broken.close();
      const res = await app.request("/api/organizations", { headers: { "x-api-key": ADMIN_KEY, "x-request-id": "req-broken-db" } });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(await res.text()).not.toContain("postgres");
    } finally {
      setLogSink(previous);
    }
    const error = lines.find((l) => l.msg === "unexpected error");
    expect(error).toMatchObject({ level: "error", request_id: "req-broken-db", method: "GET", path: "/api/organizations" });
    expect(typeof error!.error).toBe("string");
    expect(lines.find((l) => l.msg === "request")).toMatchObject({ request_id: "req-broken-db", level: "error" });
  });

  test("the logger masks our API keys, bearer credentials and configured secrets wherever they appear", () => {
    const key = `odk_abcdef0123_${"A".repeat(43)}`;
    const line = redact(JSON.stringify({ msg: `key ${key}`, header: "Authorization: Bearer abc.def.ghi-123456", admin: TEST_CONFIG.adminApiKey }));
    expect(line).not.toContain("A".repeat(43));
    expect(line).toContain("odk_abcdef0123_[REDACTED]");
    expect(line).not.toContain("abc.def.ghi-123456");
    expect(line).not.toContain(TEST_CONFIG.adminApiKey!);
  });

  test("the run-wide scan finds a secret written to a log, and an API key of any origin", () => {
    const token = "Zr4bQ-session-token_9f8e7d6c5b4a3f2e1d0c9b8a7f6";
    const text = [
      JSON.stringify({ msg: "request", route: "/api/organizations" }),
      JSON.stringify({ msg: "oops", cookie: `orgdesk_session=${token}` }),
      JSON.stringify({ msg: "signed in", password: "correct horse battery" }),
      `Error: bad key odk_abcdef0123_${"x".repeat(43)} at line 3`,
    ].join("\n");
    const known = new Map([
      [token, "a session token"],
      ["correct horse battery", "a password"],
      ["never-written-secret-value", "another key"],
    ]);
    expect(findSecrets(text, known).map((f) => f.what).sort()).toEqual(["a password", "a session token", "an API key"]);
    expect(findSecrets(JSON.stringify({ msg: "request", route: "/x" }), known)).toEqual([]);
    // Logged through the real logger, the key shape is masked before it is written.
    const written: string[] = [];
    const previous = setLogSink((l) => written.push(l));
    log.info("oops", { key: `odk_abcdef0123_${"x".repeat(43)}` });
    setLogSink(previous);
    expect(findSecrets(written.join("\n"), new Map())).toEqual([]);
  });
});
