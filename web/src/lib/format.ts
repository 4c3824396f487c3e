/**
 * Display formatting. Money arrives as decimal strings and goes straight into Intl.NumberFormat,
 * which formats a numeric string exactly (no binary float on the way), in the viewer's locale.
 *
 * Amounts are shown in the currency's minor units (cents for USD and EUR), rounded half to even
 * like the server rounds (docs/billing.md), so a shown revenue minus a shown cost is the shown
 * margin. More precision (token costs carry 4 decimals) is for detail tables only: `precise`.
 */
const moneyFormats = new Map<string, Intl.NumberFormat>();

/**
 * A formatter made on first use, not when the module loads: building an Intl formatter loads the
 * locale's data, and the app's first screen is drawn before any figure is (docs/web.md, "First
 * visit").
 */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

type MoneyStyle = "standard" | "compact" | "precise";

function moneyFormat(currency: string, style: MoneyStyle): Intl.NumberFormat {
  const key = `${currency}:${style}`;
  let f = moneyFormats.get(key);
  if (!f) {
    const options: Intl.NumberFormatOptions = { style: "currency", currency, roundingMode: "halfEven" };
    if (style === "compact") Object.assign(options, { notation: "compact", maximumFractionDigits: 1 });
    // The currency's own digits at least, up to 4: a token cost line as the server keeps it.
    if (style === "precise") options.maximumFractionDigits = 4;
    f = new Intl.NumberFormat(undefined, options);
    moneyFormats.set(key, f);
  }
  return f;
}

type Numeric = `${number}` | string;

/**
 * "1234.5" in EUR → "€1,234.50"; "71.8348" in USD → "$71.83". `compact` for chart axes ("$1.2K"),
 * `precise` keeps up to 4 decimals for detail tables ("$71.8348").
 */
export function formatMoney(amount: Numeric | null | undefined, currency: string, options: { compact?: boolean; precise?: boolean } = {}): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  const style: MoneyStyle = options.compact ? "compact" : options.precise ? "precise" : "standard";
  return moneyFormat(currency, style).format(amount as Intl.StringNumericLiteral);
}

/** Margin % as sent by the server ("97.0"), or a dash when it is undefined (no revenue). */
export function formatPct(pct: Numeric | null | undefined): string {
  if (pct === null || pct === undefined || pct === "") return "—";
  return percent().format(pct as Intl.StringNumericLiteral) + "%";
}

const percent = once(() => new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 }));
const integer = once(() => new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 }));
const compactInteger = once(() => new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }));

export function formatCount(n: number | string | null | undefined, options: { compact?: boolean } = {}): string {
  if (n === null || n === undefined || n === "") return "—";
  return (options.compact ? compactInteger() : integer()).format(n as Intl.StringNumericLiteral);
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

const dateTime = once(() => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }));
const dateOnly = once(() => new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }));

export function formatDateTime(iso: string | null | undefined): string {
  return iso ? dateTime().format(new Date(iso)) : "—";
}

export function formatDate(iso: string | null | undefined): string {
  return iso ? dateOnly().format(new Date(iso)) : "—";
}
