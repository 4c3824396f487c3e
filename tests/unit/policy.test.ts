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

test("a refusal says in words what is missing, never an action identifier", () => {
  const readKey: Principal = { kind: "api_key", keyId: "k", prefix: "p", permission: "read", orgId: null };
  expect(() => authorize(readKey, "org.create")).toThrow("This key is read-only; creating organizations needs a write key.");
  expect(() => authorize(usageKey, "billing.read")).toThrow("This key may only report usage; reading billing needs a read key.");
  expect(() => authorize({ ...readKey, permission: "write" }, "keys.manage")).toThrow(
    "A write key does not allow managing API keys; that needs the owner or admin role (signed in to the web app).",
  );
  expect(() => authorize({ ...bound, role: "admin" }, "agent.assign")).toThrow(
    "Your account is limited to one organization; moving agents between organizations needs platform-wide access.",
  );
  const viewer: Principal = { ...bound, role: "viewer", orgId: null };
  expect(() => authorize(viewer, "org.update")).toThrow("Your role (viewer) does not allow changing organizations; that needs the owner or admin role.");

  // Every refusal of every kind of principal: a sentence, with no identifier like "org.create".
  const principals: Principal[] = [];
  for (const orgId of [null, "org-a"]) {
    for (const role of ["owner", "admin", "member", "viewer"] as const) principals.push({ ...bound, role, orgId });
    for (const permission of ["read", "write", "usage"] as const) principals.push({ ...readKey, permission, orgId });
  }
  let refused = 0;
  for (const principal of principals) {
    for (const action of ACTIONS) {
      if (can(principal, action)) continue;
      refused++;
      let message = "";
      try {
        authorize(principal, action);
      } catch (err) {
        message = (err as Error).message;
      }
      expect({ action, message }).toEqual({ action, message: expect.stringMatching(/^(Your|This|A) [^.]*; [^.]* needs [^.]+\.$/) });
      expect(message).not.toMatch(/\b(org|agent|billing|usage|prices|users|keys|audit)\.[a-z]+/);
    }
  }
  expect(refused).toBeGreaterThan(80);
});
