import { sql } from "drizzle-orm";
import { boolean, check, index, integer, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, instant, timestamps } from "./columns";
import { organizations } from "./orgs";

export const ROLES = ["owner", "admin", "member", "viewer"] as const;
export const KEY_PERMISSIONS = ["read", "write", "usage"] as const;

/** Staff who sign in to the web app (docs/security.md). Never deleted: deactivated, so audit entries keep their meaning. */
export const users = pgTable(
  "users",
  {
    id: id(),
    /** Stored trimmed and lower-cased; unique case-insensitively. */
    email: text("email").notNull(),
    /** argon2id PHC string (salt and parameters included). */
    passwordHash: text("password_hash").notNull(),
    role: text("role").notNull(),
    /** The one organization the user is confined to; null = the whole platform. */
    orgId: uuid("org_id").references(() => organizations.id),
    isActive: boolean("is_active").notNull().default(true),
    /**
     * True only for the owner created by first start (ADMIN_EMAIL) or the setup step. The partial
     * unique index lets at most one row ever carry it, so two racing setups cannot both succeed.
     */
    isFirstOwner: boolean("is_first_owner").notNull().default(false),
    ...timestamps,
  },
  (t) => [
    uniqueIndex("users_email_key").on(sql`lower(${t.email})`),
    uniqueIndex("users_single_first_owner_key").on(t.isFirstOwner).where(sql`${t.isFirstOwner}`),
    check("users_role_check", sql`${t.role} in ('owner', 'admin', 'member', 'viewer')`),
  ],
);

/** Browser sessions. Only the SHA-256 of the cookie's token is stored. */
export const sessions = pgTable(
  "sessions",
  {
    id: id(),
    /** Hex SHA-256 of the random token in the `orgdesk_session` cookie. */
    tokenHash: text("token_hash").notNull(),
    userId: uuid("user_id").notNull().references(() => users.id),
    createdAt: instant("created_at").notNull().defaultNow(),
    /** Absolute expiry; a session is never extended past it. */
    expiresAt: instant("expires_at").notNull(),
    /** Updated at most once a minute. */
    lastSeenAt: instant("last_seen_at").notNull().defaultNow(),
    revokedAt: instant("revoked_at"),
  },
  (t) => [uniqueIndex("sessions_token_hash_key").on(t.tokenHash), index("sessions_user_idx").on(t.userId)],
);

/** API keys for external tools: `odk_<prefix>_<secret>`, shown once; only the SHA-256 of the whole key is stored. */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: id(),
    /** Public, random, unique: how a key is listed and looked up. */
    prefix: text("prefix").notNull(),
    /** Hex SHA-256 of the full key string. */
    secretHash: text("secret_hash").notNull(),
    name: text("name").notNull(),
    permission: text("permission").notNull(),
    /** Organization scope; null = platform key. */
    orgId: uuid("org_id").references(() => organizations.id),
    createdBy: uuid("created_by").references(() => users.id),
    createdAt: instant("created_at").notNull().defaultNow(),
    /** Updated at most once a minute. */
    lastUsedAt: instant("last_used_at"),
    revokedAt: instant("revoked_at"),
  },
  (t) => [
    uniqueIndex("api_keys_prefix_key").on(t.prefix),
    check("api_keys_permission_check", sql`${t.permission} in ('read', 'write', 'usage')`),
  ],
);

/**
 * Request counters shared by every server instance, one row per bucket and fixed window: sign-in
 * attempts per `account:<email>` and per `address:<ip>`, API requests per `api-key:…`,
 * `api-session:…` and `api-addr:<ip>` (server/modules/limits). Changed only by single conditional
 * upserts, so concurrent requests cannot slip past a limit.
 */
export const requestCounters = pgTable(
  "request_counters",
  {
    key: text("key").primaryKey(),
    /** Start of the current window (it starts with the first request counted in it). */
    windowStart: instant("window_start").notNull(),
    /** Requests counted in the window (a sign-in attempt is counted before its password is checked). */
    hits: integer("hits").notNull(),
  },
  (t) => [index("request_counters_window_idx").on(t.windowStart)],
);
