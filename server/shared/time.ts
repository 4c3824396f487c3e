/** Calendar months in UTC, written YYYY-MM (docs/billing.md). Pure helpers, no I/O. */
export const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/**
 * Each month's first instant and the next month's, in milliseconds, computed once: billing asks for
 * the same dozen months thousands of times per report. Bounded: cleared past 4,096 months.
 */
const BOUNDS = new Map<string, readonly [number, number]>();
function boundsMs(month: string): readonly [number, number] {
  let b = BOUNDS.get(month);
  if (!b) {
    const m = MONTH_PATTERN.exec(month);
    if (!m) throw new Error(`not a month: ${month}`);
    b = [Date.UTC(Number(m[1]), Number(m[2]) - 1, 1), Date.UTC(Number(m[1]), Number(m[2]), 1)];
    if (BOUNDS.size >= 4096) BOUNDS.clear();
    BOUNDS.set(month, b);
  }
  return b;
}

export function monthStart(month: string): Date {
  return new Date(boundsMs(month)[0]);
}

export function monthEnd(month: string): Date {
  return new Date(boundsMs(month)[1]);
}

export function monthOf(date: Date): string {
  return `${date.getUTCFullYear().toString().padStart(4, "0")}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

export function addMonths(month: string, n: number): string {
  const start = monthStart(month);
  return monthOf(new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + n, 1)));
}

/** Inclusive list of months from `from` to `to`. */
export function monthsBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let m = from; m <= to; m = addMonths(m, 1)) out.push(m);
  return out;
}
