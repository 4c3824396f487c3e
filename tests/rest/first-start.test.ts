import { afterAll, expect, test } from "bun:test";
import { startServer } from "../../server/index";
import { call, signIn, trpc } from "../support/access";
import { TEST_CONFIG } from "../support/actors";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

const withEnv = await testDatabase();
const empty = await testDatabase();

test("starting with ADMIN_EMAIL and ADMIN_PASSWORD on an empty database creates the owner, who can sign in", async () => {
  if (!withEnv.url) return; // startServer opens PostgreSQL by URL; the PGlite variant is covered by tests/service
  const server = await startServer({ ...TEST_CONFIG, databaseUrl: withEnv.url, port: 0, adminEmail: "boss@example.test", adminPassword: "boss password 1" });
  afterAll(() => server.stop());
  const base = `http://127.0.0.1:${server.server.port}`;
  expect((await trpc(base, null, "query", "auth.setupStatus")).body).toEqual({ setup_required: false });
  const { cookie, reply } = await signIn(base, "boss@example.test", "boss password 1");
  expect(reply.status).toBe(200);
  expect(reply.body.user.role).toBe("owner");
  expect((await trpc(base, { cookie }, "query", "users.list")).body.users.map((u: any) => u.email)).toEqual(["boss@example.test"]);
});

test("without them, the setup step creates the owner once and signs them in", async () => {
  const { base } = startTestServer(empty);
  expect((await trpc(base, null, "query", "auth.setupStatus")).body).toEqual({ setup_required: true });
  const created = await trpc(base, null, "mutation", "auth.setup", { email: "first@example.test", password: "first password" }, { origin: base });
  expect(created.status).toBe(200);
  const cookie = created.headers.getSetCookie()[0]!.split(";")[0]!;
  expect((await call(base, { cookie }, "POST", "/api/organizations", { name: "Day One" })).status).toBe(201);
  const again = await trpc(base, null, "mutation", "auth.setup", { email: "second@example.test", password: "second password" }, { origin: base });
  expect(again.status).toBe(409);
  expect((await trpc(base, null, "query", "auth.setupStatus")).body).toEqual({ setup_required: false });
  expect((await signIn(base, "second@example.test", "second password")).reply.status).toBe(401);
});
