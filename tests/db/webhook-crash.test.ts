import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Webhook as Verifier } from "standardwebhooks";
import { TEST_DB_KIND, testDatabase } from "../support/db";
import { client } from "../support/http";
import { type ServerProcess, spawnServer } from "../support/process";
import { waitFor } from "../support/wait";

/**
 * A real server process killed (SIGKILL) in the middle of a webhook delivery: the next instance
 * delivers it, with the same webhook-id, once the dead instance's claim runs out. The receiver is
 * https on 127.0.0.1 under the name `localhost` (a certificate the server trusts through
 * NODE_EXTRA_CA_CERTS), so this is also the real https path: the name is resolved and checked,
 * the connection goes to that address, and TLS verifies the certificate against the name.
 *
 * On PGlite the server's database is a directory, and the second process reopens it after the
 * first was killed.
 */
const FIXTURES = resolve(import.meta.dir, "../support/fixtures");
const KEY = "crash-admin-key";
const database = TEST_DB_KIND === "postgres" ? await testDatabase() : undefined;
const dataDir = TEST_DB_KIND === "pglite" ? mkdtempSync(join(tmpdir(), "orgdesk-crash-")) : undefined;
afterAll(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const env = {
  ...(database ? { DATABASE_URL: database.url! } : { DATA_DIR: dataDir! }),
  ADMIN_API_KEY: KEY,
  SECRETS_KEY: "a".repeat(64),
  WEBHOOK_ALLOW_PRIVATE: "1",
  WEBHOOK_TIMEOUT_MS: "1000",
  JOB_POLL_INTERVAL_MS: "100",
  NODE_EXTRA_CA_CERTS: join(FIXTURES, "localhost-cert.pem"),
  WEB_DIR: "",
};

describe("a server killed mid-delivery", () => {
  test("the next instance delivers the webhook after the dead one's claim runs out, with the same webhook-id", async () => {
    const requests: { id: string; body: string; headers: Record<string, string> }[] = [];
    let holdFirst = true;
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      tls: { cert: Bun.file(join(FIXTURES, "localhost-cert.pem")), key: Bun.file(join(FIXTURES, "localhost-key.pem")) },
      idleTimeout: 60,
      fetch: async (req) => {
        const headers: Record<string, string> = {};
        req.headers.forEach((value, name) => (headers[name] = value));
        requests.push({ id: headers["webhook-id"]!, body: await req.text(), headers });
        // The first request is never answered: its server dies while waiting.
        if (holdFirst) await new Promise(() => {});
        return new Response("received");
      },
    });
    let first: ServerProcess | undefined;
    let second: ServerProcess | undefined;
    try {
      first = await spawnServer(env);
      const api = client(first.base, KEY);
      const hook = await api.post("/api/webhooks", { url: `https://localhost:${receiver.port}/hook`, event_types: ["organization.created"] });
      expect(hook.status).toBe(201);
      const org = await api.post("/api/organizations", { name: "Crash Test Client" });
      expect(org.status).toBe(201);

      await waitFor("the first attempt to reach the receiver", () => requests.length === 1, 30_000);
      first.proc.kill("SIGKILL");
      expect(await first.exited(10_000)).not.toBeNull();
      holdFirst = false;

      second = await spawnServer(env);
      const api2 = client(second.base, KEY);
      // The dead instance's lease (1 s limit + 2 s + 5 s margin) must run out first.
      await waitFor("the delivery after the restart", () => requests.length >= 2, 60_000);
      const log = await waitFor("the delivery to be recorded", async () => {
        const reply = await api2.get(`/api/webhooks/${hook.body.id}/deliveries`);
        return reply.body.deliveries?.[0]?.status === "succeeded" ? reply.body.deliveries : null;
      });
      expect(requests.map((r) => r.id)).toEqual([log[0].event_id, log[0].event_id]);
      expect(requests[1]!.body).toBe(requests[0]!.body);
      for (const r of requests) {
        const payload = new Verifier(hook.body.secret).verify(r.body, r.headers) as { type: string; data: { organization: { id: string } } };
        expect(payload.type).toBe("organization.created");
        expect(payload.data.organization.id).toBe(org.body.id);
      }
      expect(requests[1]!.headers.host).toBe(`localhost:${receiver.port}`);
      // The cut-off attempt was never recorded; the one that succeeded was.
      expect(log[0].attempts.map((a: { status_code: number }) => a.status_code)).toEqual([200]);
    } finally {
      first?.proc.kill("SIGKILL");
      second?.proc.kill("SIGTERM");
      await second?.exited(10_000);
      receiver.stop(true);
    }
  }, 180_000);
});
