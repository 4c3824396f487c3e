import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ACTIONS, can } from "../../server/auth/policy";
import type { Principal, Role } from "../../server/auth/principal";

/** docs/security.md promises a table of permissions; it must say what the policy does. */
const doc = readFileSync(join(import.meta.dir, "../../docs/security.md"), "utf8");
const rows = doc
  .split("\n")
  .filter((line) => /^\| `[a-z]+\.[a-z]+` \|/.test(line))
  .map((line) => line.split("|").slice(1, -1).map((cell) => cell.trim()));

const user = (role: Role, orgId: string | null = null): Principal => ({ kind: "user", userId: "u", email: "e", role, orgId, sessionId: "s" });
const key = (permission: "read" | "write" | "usage", orgId: string | null = null): Principal => ({ kind: "api_key", keyId: "k", prefix: "p", permission, orgId });
const columns: Principal[] = [user("owner"), user("admin"), user("member"), user("viewer"), key("read"), key("write"), key("usage")];

test("the permission table in docs/security.md lists every action exactly once", () => {
  expect(rows.map((r) => r[0]!.replaceAll("`", "")).sort()).toEqual([...ACTIONS].sort());
});

test("each cell of the table matches the policy, unbound and bound", () => {
  for (const row of rows) {
    const action = row[0]!.replaceAll("`", "") as (typeof ACTIONS)[number];
    columns.forEach((principal, i) => {
      expect({ action, column: i, allowed: row[i + 2] === "✓" }).toEqual({ action, column: i, allowed: can(principal, action) });
    });
    // "never" when bound: no bound principal of any kind keeps it; otherwise a bound owner does.
    const bound = [user("owner", "org"), key("write", "org"), key("usage", "org")].some((p) => can(p, action));
    expect({ action, keptWhenBound: bound }).toEqual({ action, keptWhenBound: !row[9]!.startsWith("never") });
  }
});
