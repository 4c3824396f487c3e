/** Who is calling, resolved once per request (docs/security.md, "Principals"). Everything else asks the policy about it. */
export type Role = "owner" | "admin" | "member" | "viewer";
export type KeyPermission = "read" | "write" | "usage";

export type Principal =
  | { kind: "anonymous" }
  | {
      kind: "user";
      userId: string;
      email: string;
      role: Role;
      /** Bound organization, or null for platform-wide staff. */
      orgId: string | null;
      sessionId: string;
    }
  | {
      kind: "api_key";
      /** null for the ADMIN_API_KEY from the environment. */
      keyId: string | null;
      prefix: string;
      permission: KeyPermission;
      /** Organization scope, or null for a platform key. */
      orgId: string | null;
    };

export const ANONYMOUS: Principal = { kind: "anonymous" };

/** A short human label for audit entries and logs. */
export function actorLabel(p: Principal): string {
  if (p.kind === "user") return p.email;
  if (p.kind === "api_key") return p.keyId ? `key:${p.prefix}` : "key:ADMIN_API_KEY";
  return "anonymous";
}
