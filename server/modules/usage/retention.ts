/**
 * The usage retention window, pure (docs/operations.md, "Usage retention"). With
 * USAGE_RETENTION_MONTHS = N, the raw events of the current UTC month and of the N whole months
 * before it are kept; older ones are dropped a month at a time, and an event older than that is
 * refused at ingestion (it could no longer be de-duplicated against the dropped month).
 */

const DAY_MS = 86_400_000;

/** The first instant (UTC) of the month `back` months before the month of `instant`. */
export function monthStartBefore(instant: Date, back: number): Date {
  return new Date(Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth() - back, 1));
}

/** The oldest `occurred_at` ingestion accepts at `now`: the start of the window; null = no retention. */
export function retentionStart(months: number | null, now: Date): Date | null {
  return months === null ? null : monthStartBefore(now, months);
}

/**
 * Months whose partitions end at or before this instant may be dropped. It trails the start of the
 * window by a day, so a batch validated just before a month boundary (against the older window)
 * never meets a partition dropped just after it.
 */
export function dropBefore(months: number | null, now: Date): Date | null {
  return months === null ? null : monthStartBefore(new Date(now.getTime() - DAY_MS), months);
}

/** `YYYY-MM-01` of a month start. */
export const monthKey = (start: Date) => start.toISOString().slice(0, 10);
