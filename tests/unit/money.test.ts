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
