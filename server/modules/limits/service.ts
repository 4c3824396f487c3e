import { and, eq, like, lt, sql } from "drizzle-orm";
import { createHash } from "node:crypto";
import { type Db, type DbOrTx, rows } from "../../../db/client";
import { requestCounters } from "../../../db/schema";
import { AppError } from "../../errors";

/**
 * Rate limits shared by every instance: fixed windows counted in PostgreSQL by conditional upserts,
 * grouped so that concurrent requests share one statement. A bucket over its limit answers 429 with
 * `Retry-After` = the seconds until its window ends.
 *
 * The counters live in `request_counters` (key, window_start, hits): one table and one mechanism
 * for every request counter, the sign-in limits included (auth service, buckets `account:` and
 * `address:`). API buckets are prefixed `api-`.
 */
export interface Bucket {
  /** e.g. `api-key:3f9a…` or `api-addr:203.0.113.7` — never a raw credential. */
  bucket: string;
  /** Requests allowed per window; 0 = unlimited (not counted). */
  limit: number;
}

/** The bucket of a presented credential: a hash prefix, so the table never holds a secret. */
export function credentialBucket(kind: "key" | "session", secret: string): string {
  return `api-${kind}:${createHash("sha256").update(secret).digest("hex").slice(0, 32)}`;
}

/** The bucket of a client address. */
export const addressBucket = (ip: string) => `api-addr:${ip}`;

/**
 * Where one request stands in the most constraining of its buckets: the one with the fewest
 * requests left (over its limit, the one whose window ends last). What the `RateLimit-*` response
 * headers report.
 */
export interface Standing {
  /** Requests allowed per window in that bucket. */
  limit: number;
  /** Requests left in its window after this one (0 when over). */
  remaining: number;
  /** Seconds until its window ends and the count starts again. */
  resetSeconds: number;
  /** Seconds to wait when any bucket is over its limit, else 0. */
  retryAfter: number;
}

interface Request {
  buckets: Bucket[];
  resolve: (standing: Standing) => void;
  reject: (err: unknown) => void;
}

interface Counter {
  windowSeconds: number;
  queued: Request[];
  inFlight: boolean;
  flushes: number;
}

/** One group-commit counter per database handle and window length (tests run several differently configured servers in one process). */
const counters = new WeakMap<Db, Map<number, Counter>>();

/**
 * Writes the increments of every queued request in one upsert (keys sorted, so two instances never
 * deadlock), then tells each request its exact position in its buckets, as if they had been
 * counted one by one. While one upsert is in flight, new requests queue for the next: under load a
 * busy key costs one statement per round trip instead of one per request, and no request decides
 * on a count that is not in the database yet.
 */
async function flush(db: Db, counter: Counter): Promise<void> {
  counter.inFlight = true;
  const group = counter.queued;
  counter.queued = [];
  try {
    const totals = new Map<string, number>();
    for (const r of group) for (const b of r.buckets) totals.set(b.bucket, (totals.get(b.bucket) ?? 0) + 1);
    const keys = [...totals.keys()].sort();
    const values = sql.join(
      keys.map((k) => sql`(${k}, now(), ${totals.get(k)!}::int)`),
      sql`, `,
    );
    const window = sql`make_interval(secs => ${counter.windowSeconds})`;
    const c = requestCounters;
    const [key, windowStart, hits] = [c.key, c.windowStart, c.hits].map((column) => sql.identifier(column.name));
    // In ON CONFLICT, a column named through the table (`${c.hits}`) is the stored row's.
    const expired = sql`${c.windowStart} <= now() - ${window}`;
    const result = await rows<{ bucket: string; hits: number; retry_after: number }>(
      db,
      sql`insert into ${c} (${key}, ${windowStart}, ${hits}) values ${values}
          on conflict (${key}) do update set
            ${windowStart} = case when ${expired} then now() else ${c.windowStart} end,
            ${hits} = case when ${expired} then excluded.${hits} else ${c.hits} + excluded.${hits} end
          returning ${c.key} as bucket, ${c.hits} as hits, greatest(1, ceil(extract(epoch from (${c.windowStart} + ${window} - now()))))::int as retry_after`,
    );
    // Positions in each bucket: the group's increments are the last `total` counts of the window.
    const next = new Map<string, { position: number; retryAfter: number }>();
    for (const row of result) next.set(row.bucket, { position: Number(row.hits) - totals.get(row.bucket)!, retryAfter: Number(row.retry_after) });
    for (const r of group) {
      let standing: Standing | undefined;
      for (const b of r.buckets) {
        const slot = next.get(b.bucket)!;
        slot.position += 1;
        const over = slot.position > b.limit;
        const here: Standing = { limit: b.limit, remaining: Math.max(0, b.limit - slot.position), resetSeconds: slot.retryAfter, retryAfter: over ? slot.retryAfter : 0 };
        standing = moreConstraining(standing, here);
      }
      r.resolve(standing!);
    }
    if (++counter.flushes % 500 === 0) {
      await db
        .delete(requestCounters)
        .where(and(like(requestCounters.key, "api-%"), lt(requestCounters.windowStart, sql`now() - ${window} * 2`)))
        .catch(() => {});
    }
  } catch (err) {
    for (const r of group) r.reject(err);
  } finally {
    counter.inFlight = false;
    if (counter.queued.length > 0) void flush(db, counter);
  }
}

/** The standing to report of two buckets: an exceeded one first (the longest wait), else the fewest left. */
function moreConstraining(a: Standing | undefined, b: Standing): Standing {
  if (!a) return b;
  if (a.retryAfter !== b.retryAfter) return a.retryAfter > b.retryAfter ? a : b;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining ? a : b;
  return a.resetSeconds >= b.resetSeconds ? a : b;
}

/**
 * Counts one request against each bucket; returns the seconds to wait when any bucket is over its
 * limit, else 0. A window that has ended restarts with this request. Old rows are swept now and then.
 */
export async function count(args: { db: Db; buckets: Bucket[]; windowSeconds: number }): Promise<number> {
  return (await stand(args))?.retryAfter ?? 0;
}

/**
 * Counts one request against each bucket and says where it stands in the most constraining one;
 * null when no bucket is limited (every limit 0 = off).
 */
export async function stand({ db, buckets, windowSeconds }: { db: Db; buckets: Bucket[]; windowSeconds: number }): Promise<Standing | null> {
  const counted = buckets.filter((b) => b.limit > 0);
  if (counted.length === 0) return null;
  let byWindow = counters.get(db);
  if (!byWindow) counters.set(db, (byWindow = new Map()));
  let counter = byWindow.get(windowSeconds);
  if (!counter) byWindow.set(windowSeconds, (counter = { windowSeconds, queued: [], inFlight: false, flushes: 0 }));
  const group = counter;
  return new Promise<Standing>((resolve, reject) => {
    group.queued.push({ buckets: counted, resolve, reject });
    if (!group.inFlight) void flush(db, group);
  });
}

/** The RATE_LIMITED error of a standing that is over its limit. */
export const rateLimited = (standing: Standing) =>
  new AppError("RATE_LIMITED", `Too many requests; retry in ${standing.retryAfter} s`, { retryAfter: standing.retryAfter });

/**
 * After a successful sign-in: forgets the account's attempts, un-charges this attempt from the
 * address, and sweeps counters whose window ended long ago.
 */
export async function forgiveSignIn(tx: DbOrTx, { account, address, windowSeconds }: { account: string; address: string; windowSeconds: number }): Promise<void> {
  await tx.delete(requestCounters).where(eq(requestCounters.key, account));
  await tx
    .update(requestCounters)
    .set({ hits: sql`greatest(${requestCounters.hits} - 1, 0)` })
    .where(eq(requestCounters.key, address));
  await tx.delete(requestCounters).where(lt(requestCounters.windowStart, sql`now() - make_interval(secs => ${windowSeconds * 2})`));
}
