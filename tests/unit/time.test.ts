import { describe, expect, test } from "bun:test";
import { addMonths, monthEnd, monthOf, monthsBetween, monthStart } from "../../server/shared/time";

describe("calendar months in UTC", () => {
  test("a month's first instant and the next month's, across a year's end and February", () => {
    expect(monthStart("2026-03").toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(monthEnd("2026-12").toISOString()).toBe("2027-01-01T00:00:00.000Z");
    expect(monthEnd("2028-02").getTime() - monthStart("2028-02").getTime()).toBe(29 * 86_400_000);
    expect(monthsBetween("2025-11", "2026-02")).toEqual(["2025-11", "2025-12", "2026-01", "2026-02"]);
    expect(addMonths("2026-01", -1)).toBe("2025-12");
    expect(monthOf(new Date("2026-07-31T23:59:59.999Z"))).toBe("2026-07");
  });

  test("each call returns its own Date: changing one does not change the next (the bounds are computed once)", () => {
    const a = monthStart("2026-05");
    a.setUTCFullYear(1999);
    expect(monthStart("2026-05").toISOString()).toBe("2026-05-01T00:00:00.000Z");
    const b = monthEnd("2026-05");
    b.setTime(0);
    expect(monthEnd("2026-05").toISOString()).toBe("2026-06-01T00:00:00.000Z");
  });

  test("anything but YYYY-MM is refused, every time", () => {
    for (let i = 0; i < 2; i++) {
      expect(() => monthStart("2026-13")).toThrow("not a month");
      expect(() => monthEnd("2026-1")).toThrow("not a month");
    }
  });
});
