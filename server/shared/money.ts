/**
 * Exact decimal arithmetic for money. Amounts are rationals of BigInts, never binary floats; the only
 * rounding is `round()` (half-even), applied once per displayed line (docs/billing.md).
 *
 * A ratio need not be in lowest terms: a parsed decimal keeps its power-of-ten denominator, so
 * adding decimals of the same (or a dividing) scale is one BigInt addition, and a product or
 * quotient is two multiplications, without a gcd. Every result is exact either way; a ratio is
 * reduced only once its denominator passes 2^128, which the short chains of billing never reach.
 */
export interface Ratio {
  n: bigint;
  d: bigint; // always > 0
}

const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;

export const ZERO: Ratio = { n: 0n, d: 1n };

/** Parses a plain decimal string ("99.00", "-0.5", "3"). Throws on anything else. */
export function dec(value: string | bigint | number): Ratio {
  if (typeof value === "bigint") return { n: value, d: 1n };
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`not an exact integer: ${value}`);
    return { n: BigInt(value), d: 1n };
  }
  const m = DECIMAL.exec(value.trim());
  if (!m) throw new Error(`not a decimal: ${value}`);
  const frac = m[3] ?? "";
  const n = BigInt((m[2] ?? "0") + frac);
  return { n: m[1] === "-" ? -n : n, d: pow10(frac.length) };
}

const POW10: bigint[] = Array.from({ length: 40 }, (_, i) => 10n ** BigInt(i));
const pow10 = (places: number) => POW10[places] ?? 10n ** BigInt(places);

/** Greatest common divisor, never negative (whatever the signs of a and b). */
function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b) [a, b] = [b, a % b];
  return a;
}

const REDUCE_ABOVE = 1n << 128n;

/** n/d with a positive denominator, reduced to lowest terms only once the denominator has grown large. */
function tidy(n: bigint, d: bigint): Ratio {
  if (d === 0n) throw new Error("division by zero");
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  if (d <= REDUCE_ABOVE) return { n, d };
  const g = gcd(n, d);
  return { n: n / g, d: d / g };
}

/** a + sign × b: over the larger denominator when one divides the other, else reduced. */
function addSigned(a: Ratio, b: Ratio, sign: 1n | -1n): Ratio {
  if (a.d === b.d) return { n: a.n + sign * b.n, d: a.d };
  if (a.d > b.d && a.d % b.d === 0n) return { n: a.n + sign * b.n * (a.d / b.d), d: a.d };
  if (b.d > a.d && b.d % a.d === 0n) return { n: a.n * (b.d / a.d) + sign * b.n, d: b.d };
  return tidy(a.n * b.d + sign * b.n * a.d, a.d * b.d);
}

export const add = (a: Ratio, b: Ratio): Ratio => addSigned(a, b, 1n);
export const sub = (a: Ratio, b: Ratio): Ratio => addSigned(a, b, -1n);
export const mul = (a: Ratio, b: Ratio): Ratio => tidy(a.n * b.n, a.d * b.d);
export const div = (a: Ratio, b: Ratio): Ratio => tidy(a.n * b.d, a.d * b.n);
export const sum = (xs: Iterable<Ratio>): Ratio => {
  let total = ZERO;
  for (const x of xs) total = add(total, x);
  return total;
};
export const isZero = (a: Ratio) => a.n === 0n;
export const compare = (a: Ratio, b: Ratio): number => {
  const diff = a.n * b.d - b.n * a.d;
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
};

/** Rounds half-to-even to `places` decimals and renders a fixed-point string ("96.00"). */
export function round(r: Ratio, places: number): string {
  if (r.d === 1n || r.d === pow10(places)) return formatScaled(r.d === 1n ? r.n * pow10(places) : r.n, places);
  const scaled = r.n * pow10(places);
  const negative = scaled < 0n;
  const abs = negative ? -scaled : scaled;
  let q = abs / r.d;
  const rem = abs % r.d;
  const twice = rem * 2n;
  if (twice > r.d || (twice === r.d && q % 2n === 1n)) q += 1n;
  return formatScaled(negative && q !== 0n ? -q : q, places);
}

/** Renders an integer count of 10^-places units as a fixed-point string. */
export function formatScaled(units: bigint, places: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(places + 1, "0");
  const whole = places ? digits.slice(0, -places) : digits;
  const frac = places ? "." + digits.slice(-places) : "";
  return (negative ? "-" : "") + whole + frac;
}

/**
 * A decimal string as an integer count of 10^-places units, exactly ("1.5", 3 → 1500n). Throws on a
 * value with more decimals than `places` (it would need rounding) or that is not a plain decimal.
 */
export function parseScaled(value: string, places: number): bigint {
  const m = DECIMAL.exec(value);
  if (!m) throw new Error(`not a decimal: ${value}`);
  const frac = m[3] ?? "";
  if (frac.length > places) throw new Error(`more than ${places} decimals: ${value}`);
  const units = BigInt((m[2] ?? "0") + frac.padEnd(places, "0"));
  return m[1] === "-" ? -units : units;
}

/** Canonical 2-decimal money string from any decimal string ("99" → "99.00"); exact values only. */
export const money2 = (value: string) => round(dec(value), 2);

/** Shortest exact decimal rendering of a decimal string from the database ("0.001200000000" → "0.0012"). */
export function trimDecimal(value: string): string {
  if (!value.includes(".")) return value;
  const t = value.replace(/0+$/, "").replace(/\.$/, "");
  return t === "-0" ? "0" : t;
}

/**
 * Reads a money input from a request: a JSON number or a decimal string, at most `maxPlaces`
 * decimals, no exponent. Returns the canonical decimal string, or an error message.
 * A JSON number reaches us as a double; its shortest round-trip rendering is the decimal the client
 * wrote for any amount with few digits, which is all we accept.
 */
export function parseMoneyInput(value: unknown, maxPlaces = 2, maxIntegerDigits = 12): { ok: true; value: string } | { ok: false; message: string } {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { ok: false, message: "must be a finite number" };
    text = String(value);
    if (/e/i.test(text)) return { ok: false, message: "is out of range" };
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    return { ok: false, message: "must be a decimal number or string" };
  }
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return { ok: false, message: "must be a decimal number like 99.00" };
  if (m[1]) return { ok: false, message: "must not be negative" };
  // Leading zeros aside, the integer part must fit the column (numeric(14,2) holds 12 digits).
  if (m[2]!.replace(/^0+(?=\d)/, "").length > maxIntegerDigits) return { ok: false, message: "is out of range" };
  if ((m[3] ?? "").length > maxPlaces) return { ok: false, message: `must have at most ${maxPlaces} decimal places` };
  return { ok: true, value: round(dec(text), maxPlaces) };
}

/**
 * Reads a non-negative decimal from a request (a JSON number or a decimal string) with at most
 * `maxPlaces` decimals and `maxIntegerDigits` integer digits, exactly: a JSON number is read from its
 * shortest round-trip rendering, exponent included ("1e-7" → "0.0000001"). Returns the decimal
 * string without trailing zeros, or an error message.
 */
export function parseDecimalInput(
  value: unknown,
  maxPlaces: number,
  maxIntegerDigits = 15,
): { ok: true; value: string } | { ok: false; message: string } {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { ok: false, message: "must be a finite number" };
    text = String(value);
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    return { ok: false, message: "must be a decimal number or string" };
  }
  const m = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,3}))?$/.exec(text);
  if (!m) return { ok: false, message: "must be a decimal number like 0.0125" };
  if (m[1] && /[1-9]/.test(text.replace(/[eE].*$/, ""))) return { ok: false, message: "must not be negative" };
  // Shift the decimal point by the exponent on the digit string: no arithmetic, no rounding.
  let digits = (m[2] ?? "") + (m[3] ?? "");
  let point = (m[2] ?? "").length + Number(m[4] ?? "0");
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits + "0".repeat(point - digits.length);
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, "") || "0";
  const frac = digits.slice(point).replace(/0+$/, "");
  if (whole.length > maxIntegerDigits) return { ok: false, message: "is too large" };
  if (frac.length > maxPlaces) return { ok: false, message: `must have at most ${maxPlaces} decimal places` };
  return { ok: true, value: frac ? `${whole}.${frac}` : whole };
}
