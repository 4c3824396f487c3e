/**
 * Display formatting. Money arrives as decimal strings and goes straight into Intl.NumberFormat,
 * which formats a numeric string exactly (no binary float on the way).
 */
const moneyFormats = new Map<string, Intl.NumberFormat>();

function moneyFormat(currency: string, compact: boolean): Intl.NumberFormat {
  const key = `${currency}:${compact}`;
  let f = moneyFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(undefined, compact
      ? { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 }
      : { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 2 });
    moneyFormats.set(key, f);
  }
  return f;
}

type Numeric = `${number}` | string;

/** "1234.50" in EUR → "€1,234.50" (in the viewer's locale). */
export function formatMoney(amount: Numeric | null | undefined, currency: string, options: { compact?: boolean } = {}): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  return moneyFormat(currency, options.compact ?? false).format(amount as Intl.StringNumericLiteral);
}

/** A token cost in USD with up to 4 decimals (SPEC §2: cost lines show 4). */
export function formatCostUsd(amount: Numeric | null | undefined): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 }).format(amount as Intl.StringNumericLiteral);
}

/** Margin % as sent by the server ("97.0"), or a dash when it is undefined (no revenue). */
export function formatPct(pct: Numeric | null | undefined): string {
  if (pct === null || pct === undefined || pct === "") return "—";
  return new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(pct as Intl.StringNumericLiteral) + "%";
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactInteger = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

export function formatCount(n: number | string | null | undefined, options: { compact?: boolean } = {}): string {
  if (n === null || n === undefined || n === "") return "—";
  return (options.compact ? compactInteger : integer).format(n as Intl.StringNumericLiteral);
}

/** Whether a decimal string is below zero, without parsing it as a float. */
export const isNegative = (amount: string | null | undefined) => typeof amount === "string" && amount.trim().startsWith("-") && /[1-9]/.test(amount);

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "2026-03" → "Mar 2026" (long) or "Mar" (short); "Jan" shows its year when short to mark the turn. */
export function formatMonth(month: string, style: "long" | "short" = "long"): string {
  const [y, m] = month.split("-");
  const name = MONTHS[Number(m) - 1] ?? month;
  if (style === "short") return m === "01" ? `${name} ’${y?.slice(2)}` : name;
  return `${name} ${y}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export function formatDateTime(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

export function formatDate(iso: string | null | undefined): string {
  return iso ? dateOnly.format(new Date(iso)) : "—";
}

/** "2026-03" of a Date, in UTC (billing months are UTC calendar months). */
export function monthOf(date: Date): string {
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** `month` shifted by `n` months ("2026-01", -1 → "2025-12"). */
export function addMonths(month: string, n: number): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  const total = y * 12 + (m - 1) + n;
  return `${Math.floor(total / 12)}-${String((total % 12) + 1).padStart(2, "0")}`;
}

export const CURRENCIES = ["USD", "EUR", "GBP", "NGN", "CAD", "AUD"] as const;
