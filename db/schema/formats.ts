/**
 * Value formats that the database's CHECK constraints and the application's validation share, so
 * that both always agree. Pure: imports nothing (server/shared/ and the web app use it too).
 */

/** The currencies an organization may bill in (docs/billing.md). USD is the unit of token cost. */
export const CURRENCIES = ["USD", "EUR", "GBP", "NGN", "CAD", "AUD"] as const;
export type Currency = (typeof CURRENCIES)[number];

/** Organization slugs: lower-case ASCII letters and digits in runs separated by single dashes, at most 64 characters. */
export const SLUG_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
export const SLUG_MAX = 64;

/** A UUID in its canonical 8-4-4-4-12 hex form, either case. A slug may never look like one. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
