import { sql } from "drizzle-orm";
import { type Db, rows } from "../../db/client";

/**
 * Tables whose rows legitimately change on a rejected request: request counters of the rate
 * limiters and last-used stamps. Everything else must be byte-for-byte unchanged.
 */
export const VOLATILE_TABLES = new Set(["request_counters", "__drizzle_migrations"]);

/**
 * A digest of every row of every table in the public schema (md5 of the rows' text, ordered), so
 * that "the database is unchanged" can be asserted after rejected requests. Works on PostgreSQL
 * and PGlite.
 */
export async function databaseChecksum(db: Db, exclude: Set<string> = VOLATILE_TABLES): Promise<string> {
  const tables = (
    await rows<{ table_name: string }>(
      db,
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
    )
  )
    .map((r) => r.table_name)
    .filter((t) => !exclude.has(t));
  if (tables.length === 0) return "empty";
  const parts = tables.map(
    (t) => `select '${t}' as t, md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) as h from "${t}" x`,
  );
  const result = await rows<{ t: string; h: string }>(db, sql.raw(parts.join(" union all ")));
  return result
    .sort((a, b) => a.t.localeCompare(b.t))
    .map((r) => `${r.t}:${r.h}`)
    .join(",");
}

/** Row counts per table, for reporting what a test touched. */
export async function tableCounts(db: Db, exclude: Set<string> = VOLATILE_TABLES): Promise<Record<string, number>> {
  const tables = (
    await rows<{ table_name: string }>(
      db,
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
    )
  )
    .map((r) => r.table_name)
    .filter((t) => !exclude.has(t));
  const out: Record<string, number> = {};
  for (const t of tables) {
    const [row] = await rows<{ n: number }>(db, sql.raw(`select count(*)::int as n from "${t}"`));
    out[t] = Number(row?.n ?? 0);
  }
  return out;
}
