import { index, integer, pgTable, text } from "drizzle-orm/pg-core";
import { instant } from "./columns";

/**
 * Request counters of the rate limits, shared by every instance: one row per bucket (e.g. an API
 * key's hash or a client address) with the start of its current fixed window and the requests
 * counted in it. A single conditional upsert per request charges and reads it (server/modules/limits).
 */
export const rateLimits = pgTable(
  "rate_limits",
  {
    /** `key:<sha256 prefix of the credential>`, `addr:<address>`, … — never a raw secret. */
    bucket: text("bucket").primaryKey(),
    windowStart: instant("window_start").notNull(),
    /** Requests counted since `window_start`. */
    hits: integer("hits").notNull(),
  },
  (t) => [index("rate_limits_window_idx").on(t.windowStart)],
);
