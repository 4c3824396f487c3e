import { sql } from "drizzle-orm";
import { boolean, check, index, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, instant, money, timestamps } from "./columns";
import { CURRENCIES, SLUG_MAX, SLUG_PATTERN, UUID_PATTERN } from "./formats";

export const organizations = pgTable(
  "organizations",
  {
    id: id(),
    name: text("name").notNull(),
    /** URL-safe, unique among live organizations, immutable after creation. */
    slug: text("slug").notNull(),
    contactName: text("contact_name"),
    contactEmail: text("contact_email"),
    description: text("description"),
    /** Default monthly rate per agent, in `currency`. The history lives in org_rate_periods. */
    billingRatePerAgent: money("billing_rate_per_agent").notNull().default("0.00"),
    currency: text("currency").notNull().default("USD"),
    isActive: boolean("is_active").notNull().default(true),
    isInternal: boolean("is_internal").notNull().default(false),
    ...timestamps,
    /** Soft delete: history (assignments, usage, billing) outlives the organization; the slug is freed. */
    deletedAt: instant("deleted_at"),
  },
  (t) => [
    uniqueIndex("organizations_slug_live_key").on(t.slug).where(sql`${t.deletedAt} is null`),
    uniqueIndex("organizations_one_internal_key").on(t.isInternal).where(sql`${t.isInternal}`),
    index("organizations_name_idx").on(t.name),
    check("organizations_currency_check", sql`${t.currency} in (${sql.raw(CURRENCIES.map((c) => `'${c}'`).join(", "))})`),
    check("organizations_rate_check", sql`${t.billingRatePerAgent} >= 0`),
    // A slug shaped like a UUID could never be reached by slug (a UUID in a path is taken as an id).
    check(
      "organizations_slug_check",
      sql`${t.slug} ~ ${sql.raw(`'${SLUG_PATTERN.source}'`)} and length(${t.slug}) <= ${sql.raw(String(SLUG_MAX))} and ${t.slug} !~* ${sql.raw(`'${UUID_PATTERN.source}'`)}`,
    ),
    check(
      "organizations_internal_check",
      sql`not ${t.isInternal} or (${t.isActive} and ${t.billingRatePerAgent} = 0 and ${t.deletedAt} is null)`,
    ),
  ],
);

/**
 * Active/inactive history of an organization: half-open intervals [starts_at, ends_at), ends_at null
 * for the current one. No two intervals of one organization overlap (exclusion constraint, migration).
 */
export const orgStatusPeriods = pgTable(
  "org_status_periods",
  {
    id: id(),
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    isActive: boolean("is_active").notNull(),
    startsAt: instant("starts_at").notNull(),
    endsAt: instant("ends_at"),
  },
  (t) => [
    uniqueIndex("org_status_periods_open_key").on(t.orgId).where(sql`${t.endsAt} is null`),
    check("org_status_periods_order_check", sql`${t.endsAt} is null or ${t.endsAt} >= ${t.startsAt}`),
  ],
);

/** History of an organization's default rate per agent (in its currency); same interval rules. */
export const orgRatePeriods = pgTable(
  "org_rate_periods",
  {
    id: id(),
    orgId: uuid("org_id").notNull().references(() => organizations.id),
    rate: money("rate").notNull(),
    startsAt: instant("starts_at").notNull(),
    endsAt: instant("ends_at"),
  },
  (t) => [
    uniqueIndex("org_rate_periods_open_key").on(t.orgId).where(sql`${t.endsAt} is null`),
    check("org_rate_periods_order_check", sql`${t.endsAt} is null or ${t.endsAt} >= ${t.startsAt}`),
    check("org_rate_periods_rate_check", sql`${t.rate} >= 0`),
  ],
);
