import { bigint, pgTable, text } from "drizzle-orm/pg-core";
import { instant } from "./columns";

/**
 * Where each caller's last write left the primary's write-ahead log, so that its reports read the
 * primary until the replica has replayed that far (docs/scaling.md, Read replica). Written only
 * when a replica is configured; one row per caller that ever wrote.
 */
export const readFences = pgTable("read_fences", {
  /** `user:<id>`, `key:<id>` or `key:env` (the ADMIN_API_KEY). */
  principal: text("principal").primaryKey(),
  /** The primary's WAL position after the write, bytes since 0/0 (`pg_current_wal_lsn() - '0/0'`). */
  walPosition: bigint("wal_position", { mode: "bigint" }).notNull(),
  writtenAt: instant("written_at").notNull().defaultNow(),
});
