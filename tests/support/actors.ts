import type { Database } from "../../db/client";
import type { Principal, Role } from "../../server/auth/principal";
import { loadConfig } from "../../server/config";
import type { Ctx } from "../../server/context";
import { noteSecret } from "./log-capture";

/** Principals for service tests; the policy decides what each may do, as in production. */
export const platformKey: Principal = { kind: "api_key", keyId: null, prefix: "env", permission: "write", orgId: null };
export const readKey = (orgId: string | null = null): Principal => ({ kind: "api_key", keyId: "k-read", prefix: "odk_read", permission: "read", orgId });
export const user = (role: Role, orgId: string | null = null): Principal => ({
  kind: "user",
  userId: crypto.randomUUID(),
  email: `${role}${orgId ? "-bound" : ""}@example.test`,
  role,
  orgId,
  sessionId: "test-session",
});

// Rate limits are on, as in production, but high enough that no test is throttled unless it
// lowers them (tests/rest/limits.test.ts).
// Webhook signing secrets are sealed with SECRETS_KEY: tests use a fixed one.
export const TEST_CONFIG = {
  ...loadConfig({}),
  adminApiKey: "test-admin-key",
  port: 0,
  rateLimitPerKey: 1_000_000,
  rateLimitPerAddress: 1_000_000,
  secretsKey: new Uint8Array(32).fill(7),
};
noteSecret(TEST_CONFIG.adminApiKey, "ADMIN_API_KEY of in-process test servers");

/** A service context for `principal` on `database`. */
export function ctxFor(database: Database, principal: Principal = platformKey): Ctx {
  return {
    db: database.db,
    config: TEST_CONFIG,
    principal,
    requestId: `test-${crypto.randomUUID()}`,
    ip: "127.0.0.1",
    resHeaders: new Headers(),
  };
}
