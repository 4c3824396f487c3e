import { describe, expect, test } from "bun:test";
import { formatCount, formatDate, formatDateTime, formatMoney, formatPct } from "../../web/src/lib/format";

// Bun formats in en-US, like the browser tests' Chromium.
describe("money on screen (web/src/lib/format.ts)", () => {
  test("amounts are shown in the currency's minor units: a 4-decimal token cost becomes cents", () => {
    expect(formatMoney("71.8348", "USD")).toBe("$71.83");
    expect(formatMoney("100.94", "USD")).toBe("$100.94");
    expect(formatMoney("1234.5", "EUR")).toBe("€1,234.50");
    expect(formatMoney("99", "GBP")).toBe("£99.00");
    expect(formatMoney("0.0049", "USD")).toBe("$0.00");
  });

  test("rounding is half to even, as the server rounds, so shown revenue − shown cost = shown margin", () => {
    expect(formatMoney("0.125", "USD")).toBe("$0.12");
    expect(formatMoney("0.135", "USD")).toBe("$0.14");
    expect(formatMoney("71.835", "USD")).toBe("$71.84");
    expect(formatMoney("-2.345", "USD")).toBe("-$2.34");
  });

  test("the decimal string is formatted exactly, never through a binary float", () => {
    // 0.1 + 0.2 style artefacts and digits beyond a double's precision do not appear.
    expect(formatMoney("12345678901234.565", "USD")).toBe("$12,345,678,901,234.56");
    expect(formatMoney("0.3000000000000000444", "EUR")).toBe("€0.30");
  });

  test("precise keeps up to 4 decimals for detail tables; compact is for chart axes", () => {
    expect(formatMoney("71.8348", "USD", { precise: true })).toBe("$71.8348");
    expect(formatMoney("3", "USD", { precise: true })).toBe("$3.00");
    expect(formatMoney("1234.56", "USD", { compact: true })).toBe("$1.2K");
  });

  test("a currency's own digits: NGN has kobo, and what the server does not send shows as a dash", () => {
    expect(formatMoney("1460.5", "NGN")).toBe("NGN\u00a01,460.50");
    expect(formatMoney(null, "USD")).toBe("—");
    expect(formatMoney(undefined, "USD")).toBe("—");
    expect(formatMoney("", "USD")).toBe("—");
  });
});

describe("counts, percentages and dates on screen (web/src/lib/format.ts)", () => {
  test("each formatter gives the same text on its first and later uses", () => {
    for (let i = 0; i < 2; i++) {
      expect(formatCount(1234567)).toBe("1,234,567");
      expect(formatCount("1234567", { compact: true })).toBe("1.2M");
      expect(formatCount(null)).toBe("—");
      expect(formatPct("97.04")).toBe("97.0%");
      expect(formatPct("-3.25")).toBe("-3.3%");
      expect(formatPct(undefined)).toBe("—");
      expect(formatDate("2026-03-15T12:00:00Z")).toBe("Mar 15, 2026");
      expect(formatDateTime(null)).toBe("—");
      expect(formatDateTime("2026-03-15T12:00:00Z")).toMatch(/^Mar 15, 2026, \d{1,2}:\d{2}\s?[AP]M$/);
    }
  });

  test("loading the module builds no Intl formatter: the first screen is drawn before any figure (docs/web.md)", async () => {
    const built: string[] = [];
    const { NumberFormat, DateTimeFormat } = Intl;
    const counting = <T extends new (...args: any[]) => object>(C: T, name: string) =>
      new Proxy(C, { construct: (target, args) => (built.push(name), Reflect.construct(target, args)) });
    Intl.NumberFormat = counting(NumberFormat, "NumberFormat");
    Intl.DateTimeFormat = counting(DateTimeFormat, "DateTimeFormat");
    try {
      // A fresh copy of the module (the query string makes it a new module instance).
      const fresh = await import(`../../web/src/lib/format.ts?fresh=${Date.now()}`);
      expect(built).toEqual([]);
      fresh.formatCount(1);
      fresh.formatCount(2);
      expect(built).toEqual(["NumberFormat"]);
    } finally {
      Intl.NumberFormat = NumberFormat;
      Intl.DateTimeFormat = DateTimeFormat;
    }
  });
});
