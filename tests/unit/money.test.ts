import { describe, expect, test } from "bun:test";
import { add, dec, div, formatScaled, money2, mul, parseMoneyInput, parseScaled, round, sub, sum, trimDecimal } from "../../server/shared/money";

describe("exact money arithmetic", () => {
  test("adds decimals exactly where binary floats do not", () => {
    expect(round(add(dec("0.1"), dec("0.2")), 2)).toBe("0.30");
    expect(round(sum([dec("0.1"), dec("0.2"), dec("0.3")]), 20)).toBe("0.60000000000000000000");
  });
  test("rounds half to even, once", () => {
    expect(round(dec("2.345"), 2)).toBe("2.34");
    expect(round(dec("2.355"), 2)).toBe("2.36");
    expect(round(dec("-2.345"), 2)).toBe("-2.34");
    expect(round(dec("0.005"), 2)).toBe("0.00");
    expect(round(dec("0.015"), 2)).toBe("0.02");
    expect(round(dec("-0.001"), 2)).toBe("0.00");
  });
  test("prorates a monthly rate by an exact fraction", () => {
    // 99.00 for 20 of 30 days = 66.00; for 1 second of a 30-day month = 0.0000381944…
    expect(round(mul(dec("99.00"), div(dec(20), dec(30))), 2)).toBe("66.00");
    expect(round(div(dec("99.00"), dec(30 * 86400)), 10)).toBe("0.0000381944");
  });
  test("the reference margin example (docs/billing.md): 99.00 − 3.00 = 96.00, 97.0 %", () => {
    const margin = sub(dec("99.00"), dec("3.00"));
    expect(round(margin, 2)).toBe("96.00");
    expect(round(mul(div(margin, dec("99.00")), dec(100)), 1)).toBe("97.0");
  });
  test("canonical renderings", () => {
    expect(money2("99")).toBe("99.00");
    expect(trimDecimal("0.001200000000")).toBe("0.0012");
    expect(trimDecimal("3.000000000000")).toBe("3");
  });
});

describe("ratios kept over their decimal scale (no gcd per addition)", () => {
  // The reference: every operation reduced to lowest terms, as the arithmetic did before.
  type R = { n: bigint; d: bigint };
  const gcd = (a: bigint, b: bigint): bigint => {
    a = a < 0n ? -a : a;
    b = b < 0n ? -b : b;
    while (b) [a, b] = [b, a % b];
    return a;
  };
  const reduce = (r: R): R => {
    const s = r.d < 0n ? -1n : 1n;
    const g = gcd(r.n, r.d) || 1n;
    return { n: (s * r.n) / g, d: (s * r.d) / g };
  };
  const ref = {
    add: (a: R, b: R) => reduce({ n: a.n * b.d + b.n * a.d, d: a.d * b.d }),
    sub: (a: R, b: R) => reduce({ n: a.n * b.d - b.n * a.d, d: a.d * b.d }),
    mul: (a: R, b: R) => reduce({ n: a.n * b.n, d: a.d * b.d }),
    div: (a: R, b: R) => reduce({ n: a.n * b.d, d: a.d * b.n }),
  };
  const same = (a: R, b: R) => a.n * b.d === b.n * a.d;

  test("random chains of the four operations equal the always-reduced reference, value and rounding", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const decimal = () => {
      const places = Math.floor(rand() * 7);
      const digits = String(Math.floor(rand() * 10 ** (places + 4)));
      const text = places ? `${digits.slice(0, -places) || "0"}.${digits.slice(-places).padStart(places, "0")}` : digits;
      return rand() < 0.2 ? `-${text}` : text;
    };
    const ops = ["add", "sub", "mul", "div"] as const;
    const fns = { add, sub, mul, div };
    for (let run = 0; run < 300; run++) {
      const first = decimal();
      let mine = dec(first);
      let theirs = reduce(dec(first));
      for (let step = 0; step < 12; step++) {
        const op = ops[Math.floor(rand() * (rand() < 0.8 ? 2 : 4))]!;
        const text = decimal();
        if (op === "div" && /^-?[0.]+$/.test(text)) continue;
        mine = fns[op](mine, dec(text));
        theirs = ref[op](theirs, reduce(dec(text)));
        expect(same(mine, theirs)).toBe(true);
        expect(mine.d > 0n).toBe(true);
      }
      for (const places of [0, 1, 2, 4, 18]) expect(round(mine, places)).toBe(round(theirs, places));
    }
  });

  test("dividing by a negative amount keeps the denominator positive and rounds correctly", () => {
    // Before: the gcd of a negative denominator could be negative, leaving d < 0, and 2 ÷ −3 rounded to −0.65.
    const r = div(dec("2"), dec("-3"));
    expect(r.d > 0n).toBe(true);
    expect(round(r, 2)).toBe("-0.67");
    expect(round(div(dec("-2"), dec("-3")), 2)).toBe("0.67");
    expect(round(div(dec("10"), dec("-4")), 1)).toBe("-2.5");
  });

  test("a long sum of 2- and 4-decimal amounts keeps a power-of-ten denominator", () => {
    const total = sum(Array.from({ length: 1000 }, (_, i) => dec(i % 2 ? `${i}.25` : `0.${String(i).padStart(4, "0")}`)));
    expect(total.d).toBe(10000n);
    expect(round(total, 4)).toBe("250149.9500");
  });
});

describe("scaled integers (the database's numeric(38, 18) costs summed exactly)", () => {
  test("reads a decimal as a count of 10^-places units and renders it back", () => {
    expect(parseScaled("1.5", 3)).toBe(1500n);
    expect(parseScaled("0.000000000000000001", 18)).toBe(1n);
    expect(parseScaled("-0.500000000000000000", 18)).toBe(-500000000000000000n);
    expect(parseScaled("12", 2)).toBe(1200n);
    expect(formatScaled(parseScaled("12.340000000000000000", 18), 18)).toBe("12.340000000000000000");
    // Sums equal the rational sums, as PostgreSQL renders a numeric(38, 18) sum.
    const costs = ["0.100000000000000000", "0.200000000000000000", "-0.000000000000000003", "7.123456789012345678"];
    const scaled = costs.reduce((s, c) => s + parseScaled(c, 18), 0n);
    expect(formatScaled(scaled, 18)).toBe(round(sum(costs.map((c) => dec(c))), 18));
    expect(formatScaled(scaled, 18)).toBe("7.423456789012345675");
  });
  test("refuses what would need rounding or is not a plain decimal", () => {
    expect(() => parseScaled("0.0000000000000000001", 18)).toThrow();
    expect(() => parseScaled("1e-3", 18)).toThrow();
    expect(() => parseScaled("", 18)).toThrow();
    expect(() => parseScaled("1.", 18)).toThrow();
  });
});

describe("money input (JSON number or decimal string, ≤ 2 decimals)", () => {
  test("accepts numbers and strings", () => {
    expect(parseMoneyInput(99)).toEqual({ ok: true, value: "99.00" });
    expect(parseMoneyInput(99.5)).toEqual({ ok: true, value: "99.50" });
    expect(parseMoneyInput("0.10")).toEqual({ ok: true, value: "0.10" });
    expect(parseMoneyInput(" 12 ")).toEqual({ ok: true, value: "12.00" });
  });
  test("refuses over-precise, negative, exponent and non-numeric values", () => {
    for (const bad of [99.999, "1.234", -1, "-0.01", 1e21, "1e3", "abc", "", Number.NaN, Infinity, null, true, {}, "9".repeat(16)]) {
      expect(parseMoneyInput(bad).ok).toBe(false);
    }
  });
});
