import type { Principal } from "../../server/auth/principal";

/** The principal scripts act as: the platform write key (ADMIN_API_KEY). */
export const platformKeyPrincipal: Principal = { kind: "api_key", keyId: null, prefix: "env", permission: "write", orgId: null };
