import { expect, test } from "bun:test";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

const database = await testDatabase();
const { api } = startTestServer(database);

test("the SPEC §3 example creates agenticmail at 99.00", async () => {
  const res = await api.post("/api/organizations", { name: "AgenticMail", billing_rate_per_agent: 99.0 });
  expect(res.status).toBe(201);
  expect(res.body.slug).toBe("agenticmail");
  expect(res.body.billing_rate_per_agent).toBe("99.00");
});
