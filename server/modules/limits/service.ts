import { sql } from "drizzle-orm";
import { createHash } from "node:crypto";
import { type Db, rows } from "../../../db/client";
import { AppError } from "../../errors";

/**
 * Rate limits shared by every instance: fixed windows counted in PostgreSQL, one conditional
 * upsert per request for all of its buckets. A bucket over its limit answers 429 with
 * `Retry-After` = the seconds until its window ends.
 *
 * The counters live in `login_throttle` (key, window_start, failures), the table of the sign-in
 * limits: one table and one mechanism for every request counter. API buckets are prefixed `api-`
 * and never collide with the sign-in ones (`account:`, `address:`); `failures` counts requests here.
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

let charges = 0;

/**
 * Counts one request against each bucket and throws RATE_LIMITED when any is over its limit.
 * A window that has ended restarts at this request. Old rows are swept now and then.
 */
export async function charge({ db, buckets, windowSeconds }: { db: Db; buckets: Bucket[]; windowSeconds: number }): Promise<void> {
  const counted = buckets.filter((b) => b.limit > 0);
  if (counted.length === 0) return;
  const values = sql.join(
    counted.map((b) => sql`(${b.bucket}, now(), 1)`),
    sql`, `,
  );
  const window = sql`make_interval(secs => ${windowSeconds})`;
  const result = await rows<{ bucket: string; hits: number; retry_after: number }>(
    db,
    sql`insert into login_throttle as r (key, window_start, failures) values ${values}
        on conflict (key) do update set
          window_start = case when r.window_start <= now() - ${window} then now() else r.window_start end,
          failures = case when r.window_start <= now() - ${window} then 1 else r.failures + 1 end
        returning key as bucket, failures as hits, greatest(1, ceil(extract(epoch from (window_start + ${window} - now()))))::int as retry_after`,
  );
  if (++charges % 1000 === 0) {
    await db.execute(sql`delete from login_throttle where key like 'api-%' and window_start < now() - ${window} * 2`).catch(() => {});
  }
  let wait = 0;
  for (const row of result) {
    const limit = counted.find((b) => b.bucket === row.bucket)!.limit;
    if (Number(row.hits) > limit) wait = Math.max(wait, Number(row.retry_after));
  }
  if (wait > 0) throw new AppError("RATE_LIMITED", `Too many requests; retry in ${wait} s`, { retryAfter: wait });
}
