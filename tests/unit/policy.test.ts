import { expect, test } from "bun:test";
import { ACTIONS, authorize, can, seesCosts, tenantOrgId } from "../../server/auth/policy";
import { ANONYMOUS, type Principal } from "../../server/auth/principal";

const bound: Principal = { kind: "user", userId: "u", email: "e", role: "owner", orgId: "org-a", sessionId: "s" };
const usageKey: Principal = { kind: "api_key", keyId: "k", prefix: "p", permission: "usage", orgId: null };

test("an anonymous caller can do nothing and has no tenant to be filtered by (fails closed)", () => {
  for (const action of ACTIONS) expect(can(ANONYMOUS, action)).toBe(false);
  expect(() => authorize(ANONYMOUS, "org.read")).toThrow(expect.objectContaining({ code: "UNAUTHORIZED" }));
  expect(() => tenantOrgId(ANONYMOUS)).toThrow(expect.objectContaining({ code: "UNAUTHORIZED" }));
  expect(seesCosts(ANONYMOUS)).toBe(false);
});

test("a bound principal is confined to its organization and never sees costs, whatever its role", () => {
  expect(tenantOrgId(bound)).toBe("org-a");
  expect(seesCosts(bound)).toBe(false);
  expect(() => authorize(bound, "org.delete")).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
});

test("a usage key may ingest usage and nothing else", () => {
  expect(ACTIONS.filter((a) => can(usageKey, a))).toEqual(["usage.ingest"]);
});
