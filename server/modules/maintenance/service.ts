import { sql } from "drizzle-orm";
import { type Db, rows } from "../../../db/client";

/**
 * Vacuum for a database that does not vacuum itself (docs/operations.md, "Vacuum").
 *
 * Some tables churn by design (the rollup deltas the fold deletes seconds after ingestion adds
 * them, the rollups it updates, jobs, deliveries, rate-limit counters). PostgreSQL's autovacuum
 * keeps them small; without it their dead rows pile up and every read of them slows down.
 * Embedded PGlite runs no autovacuum (one process, no launcher, though it reports the setting
 * on), and an operator may run PostgreSQL with `autovacuum = off`. In both cases Orgdesk does the
 * job itself, from a periodic job, with autovacuum's own thresholds.
 */

/** Why the database does not vacuum itself, or null when it does. */
export async function whyNoAutovacuum(db: Db): Promise<string | null> {
  const [row] = await rows<{ autovacuum: string; track_counts: string; embedded: boolean }>(
    db,
    sql`select current_setting('autovacuum') as autovacuum, current_setting('track_counts') as track_counts,
               version() like '%PGlite%' as embedded`,
  );
  if (!row) return null;
  if (row.embedded) return "the embedded PGlite database runs no autovacuum";
  if (row.autovacuum !== "on") return "autovacuum is off in this PostgreSQL";
  if (row.track_counts !== "on") return "track_counts is off in this PostgreSQL, so autovacuum cannot see what to vacuum";
  return null;
}

/** What a table's statistics say of it since its last vacuum and analyze. */
export interface TableActivity {
  live: number;
  dead: number;
  insertedSinceVacuum: number;
  modifiedSinceAnalyze: number;
}
export type TableWork = "vacuum" | "analyze" | null;

/**
 * PostgreSQL's default autovacuum thresholds (autovacuum_vacuum_threshold and _scale_factor, the
 * insert and analyze ones): a table is vacuumed once its dead rows pass 50 + 20 % of its live
 * ones, or rows inserted since the last vacuum pass 1000 + 20 % (so insert-only tables get their
 * visibility map, which index-only scans read), and analyzed once rows changed since the last
 * analyze pass 50 + 10 %.
 */
export function workFor(t: TableActivity): TableWork {
  if (t.dead > 50 + 0.2 * t.live || t.insertedSinceVacuum > 1000 + 0.2 * t.live) return "vacuum";
  if (t.modifiedSinceAnalyze > 50 + 0.1 * t.live) return "analyze";
  return null;
}

export interface VacuumedTable {
  table: string;
  work: "vacuum" | "analyze";
  deadBefore: number;
  ms: number;
}

/**
 * Vacuums (and analyzes) the tables of this database that autovacuum would have by now, and
 * analyzes those that only need fresh statistics. Only tables the connected role owns; each in its
 * own statement (VACUUM runs outside a transaction). Returns what it did.
 */
export async function vacuumWhereDue(db: Db): Promise<VacuumedTable[]> {
  // Statistics reach the shared counters when a backend flushes them. PGlite's single backend
  // flushes on request only: this makes the next statement's end flush them.
  await rows(db, sql`select pg_stat_force_next_flush()`);
  const tables = await rows<{ name: string; live: string; dead: string; inserted: string; modified: string }>(
    db,
    sql`select quote_ident(s.schemaname) || '.' || quote_ident(s.relname) as name,
               s.n_live_tup as live, s.n_dead_tup as dead, s.n_ins_since_vacuum as inserted, s.n_mod_since_analyze as modified
          from pg_stat_user_tables s
          join pg_class c on c.oid = s.relid
         where pg_has_role(current_user, c.relowner, 'USAGE')
         order by s.n_dead_tup desc, s.relname`,
  );
  const done: VacuumedTable[] = [];
  for (const t of tables) {
    const activity = { live: Number(t.live), dead: Number(t.dead), insertedSinceVacuum: Number(t.inserted), modifiedSinceAnalyze: Number(t.modified) };
    const work = workFor(activity);
    if (!work) continue;
    const started = performance.now();
    // The name comes from the catalog, already quoted by quote_ident.
    await db.execute(sql.raw(work === "vacuum" ? `vacuum (analyze) ${t.name}` : `analyze ${t.name}`));
    done.push({ table: t.name, work, deadBefore: activity.dead, ms: Math.round(performance.now() - started) });
  }
  return done;
}
