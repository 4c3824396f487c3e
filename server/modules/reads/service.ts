import { sql } from "drizzle-orm";
import { type Replica, rows } from "../../../db/client";
import { readFences } from "../../../db/schema";
import type { Principal } from "../../auth/principal";
import type { Ctx } from "../../context";
import { log } from "../../observability/log";
import type { ReplicaStatus, ReportRoute } from "../../observability/metrics";

/**
 * Which database serves a report (docs/scaling.md, Read replica). With `DATABASE_REPLICA_URL`,
 * reports read the streaming replica, except:
 * - the caller wrote, and the replica has not yet replayed the primary's log up to where that write
 *   left it (read-your-writes, across instances: the position is in `read_fences` on the primary);
 * - the replica is further behind than `DATABASE_REPLICA_MAX_LAG_S`;
 * - the replica failed recently (down, restarting): the primary for a few seconds, then try again.
 * Any statement the replica fails for a reason of its own runs again on the primary
 * (db/client.ts), so a replica going away mid-report costs a retry, never an error.
 */

/** The replica's replay position is read at most this often (a stale value only sends reads to the primary). */
const RECHECK_MS = 250;
/** After the replica failed, reports go to the primary this long before it is tried again. */
const RETRY_AFTER_MS = 5000;

interface Observed {
  at: number;
  up: boolean;
  /** Bytes since 0/0 the replica has replayed; null when unknown. */
  replayed: bigint | null;
  lagSeconds: number | null;
}

const observed = new WeakMap<Replica, { last?: Observed; pending?: Promise<Observed> }>();

async function observe(replica: Replica): Promise<Observed> {
  const at = performance.now();
  try {
    const [r] = await rows<{ replayed: string | null; lag: string | null }>(
      replica.db,
      sql`select (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint::text as replayed,
                 case when not pg_is_in_recovery() then null
                      when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
                      else extract(epoch from now() - pg_last_xact_replay_timestamp()) end::text as lag`,
    );
    // The statement fails over to the primary when the replica does not answer; the primary is not
    // in recovery, so `replayed` comes back null there and the replica counts as down.
    const up = r?.replayed != null && replica.failedAt < at;
    return { at, up, replayed: up ? BigInt(r!.replayed!) : null, lagSeconds: up && r!.lag != null ? Math.max(0, Number(r!.lag)) : null };
  } catch (err) {
    log.warn("replica status unavailable", { error: String((err as Error)?.message ?? err).slice(0, 200) });
    return { at, up: false, replayed: null, lagSeconds: null };
  }
}

/** The replica's state, read at most every RECHECK_MS by one caller at a time. Never throws. */
async function current(replica: Replica): Promise<Observed> {
  let entry = observed.get(replica);
  if (!entry) observed.set(replica, (entry = {}));
  const now = performance.now();
  const last = entry.last;
  const recentFailure = replica.failedAt > 0 && now - replica.failedAt < RETRY_AFTER_MS;
  if (recentFailure) return { at: now, up: false, replayed: null, lagSeconds: null };
  if (last && now - last.at < RECHECK_MS && last.at > replica.failedAt) return last;
  entry.pending ??= observe(replica).finally(() => (entry.pending = undefined));
  entry.last = await entry.pending;
  return entry.last;
}

/** For `/metrics`: whether the replica answers, and how far behind it is. */
export async function replicaStatus(replica: Replica): Promise<ReplicaStatus> {
  const s = await current(replica);
  return { up: s.up, lagSeconds: s.lagSeconds };
}

/** The key a caller's writes are remembered under: the user (all of their sessions) or the API key. */
function principalKey(p: Principal): string | null {
  if (p.kind === "user") return `user:${p.userId}`;
  if (p.kind === "api_key") return `key:${p.keyId ?? "env"}`;
  return null;
}

/**
 * Remembers where the caller's write left the primary's log. Called after every successful write
 * request when a replica is configured; a failure here is logged and does not fail the write.
 */
export async function noteWrite(ctx: Ctx): Promise<void> {
  const key = principalKey(ctx.principal);
  if (!ctx.replica || !key) return;
  try {
    await ctx.db
      .insert(readFences)
      .values({ principal: key, walPosition: sql`(pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint`, writtenAt: sql`now()` })
      .onConflictDoUpdate({ target: readFences.principal, set: { walPosition: sql`excluded.wal_position`, writtenAt: sql`excluded.written_at` } });
  } catch (err) {
    log.warn("could not record the write position for read-your-writes", { request_id: ctx.requestId, error: String((err as Error)?.message ?? err).slice(0, 200) });
  }
}

async function route(ctx: Ctx): Promise<ReportRoute> {
  const replica = ctx.replica;
  if (!replica) return "no_replica";
  const state = await current(replica);
  if (!state.up || state.replayed === null) return "replica_down";
  if (state.lagSeconds !== null && state.lagSeconds > ctx.config.replicaMaxLagSeconds) return "replica_lagging";
  const key = principalKey(ctx.principal);
  if (key) {
    const [fence] = await ctx.db.select({ walPosition: readFences.walPosition }).from(readFences).where(sql`${readFences.principal} = ${key}`);
    if (fence && fence.walPosition > state.replayed) return "own_write";
  }
  return "replica";
}

/**
 * The context a report reads with: `ctx` itself (the primary), or a copy whose `db` is the replica.
 * Report use cases start with `ctx = await forReports(ctx)`; they must not write with it.
 */
export async function forReports(ctx: Ctx): Promise<Ctx> {
  const reason = await route(ctx);
  const onReplica = reason === "replica";
  ctx.metrics?.reportRead(onReplica ? "replica" : "primary", reason);
  log.debug("report read", { request_id: ctx.requestId, database: onReplica ? "replica" : "primary", reason });
  return onReplica ? { ...ctx, db: ctx.replica!.db } : ctx;
}
