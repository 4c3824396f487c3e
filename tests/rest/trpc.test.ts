import { describe, expect, test } from "bun:test";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "../../server/trpc/router";
import { testDatabase } from "../support/db";
import { ADMIN_KEY, startTestServer } from "../support/http";

const database = await testDatabase();
const { base } = startTestServer(database);

const trpc = (key?: string) =>
  createTRPCClient<AppRouter>({ links: [httpLink({ url: `${base}/trpc`, headers: key ? { "x-api-key": key } : {} })] });

async function trpcFailure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TRPCClientError);
    return err as TRPCClientError<AppRouter>;
  }
  throw new Error("expected the call to fail");
}

describe("tRPC transport", () => {
  test("procedures call the same services as REST and return the same shapes", async () => {
    const api = trpc(ADMIN_KEY);
    const org = await api.orgs.create.mutate({ name: "Over tRPC", billing_rate_per_agent: "99.00" });
    expect(org).toMatchObject({ slug: "over-trpc", billing_rate_per_agent: "99.00" });
    const agent = await api.agents.create.mutate({ name: "tRPC Agent", org_id: org.slug });
    const rest = await fetch(`${base}/api/agents/${agent.id}`, { headers: { "x-api-key": ADMIN_KEY } }).then((r) => r.json());
    expect(rest).toEqual(await api.agents.get.query({ id: agent.id }));
  });

  test("validation errors carry the problem document with field errors and HTTP 400", async () => {
    const err = await trpcFailure(trpc(ADMIN_KEY).orgs.create.mutate({ name: "", contact_email: "bad", billing_rate_per_agent: "1.234" } as never));
    expect(err.data?.httpStatus).toBe(400);
    expect(err.data?.problem.code).toBe("validation");
    expect(err.data?.problem.errors?.map((e) => e.path).sort()).toEqual(["billing_rate_per_agent", "contact_email", "name"]);
    expect(JSON.stringify(err.shape)).not.toContain("stack");
  });

  test("service errors keep their status: 404 for unknown ids, 409 for conflicts", async () => {
    const api = trpc(ADMIN_KEY);
    const missing = await trpcFailure(api.orgs.get.query({ id: crypto.randomUUID() }));
    expect(missing.data?.httpStatus).toBe(404);
    expect(missing.data?.problem.detail).toBe("Organization not found");
    const conflict = await trpcFailure(api.orgs.delete.mutate({ id: "internal" }));
    expect(conflict.data?.httpStatus).toBe(409);
  });

  test("without credentials every procedure is 401; a wrong key is 401 too", async () => {
    expect((await trpcFailure(trpc().orgs.list.query({ limit: 10 }))).data?.httpStatus).toBe(401);
    expect((await trpcFailure(trpc("nope").orgs.list.query({ limit: 10 }))).data?.httpStatus).toBe(401);
  });

  test("the raw HTTP status matches the error", async () => {
    const res = await fetch(`${base}/trpc/orgs.get?input=${encodeURIComponent(JSON.stringify({ id: "does-not-exist" }))}`, { headers: { "x-api-key": ADMIN_KEY } });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const body = await res.json();
    expect(body.error.data.problem.request_id).toBe(res.headers.get("x-request-id"));
    expect(JSON.stringify(body)).not.toMatch(/stack|\.ts:\d+/);
  });

  test("an unknown procedure is a 404", async () => {
    const res = await fetch(`${base}/trpc/orgs.nothing`, { headers: { "x-api-key": ADMIN_KEY } });
    expect(res.status).toBe(404);
  });
});
