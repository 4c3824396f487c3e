import { describe, expect, test } from "bun:test";
import { parseThresholds, suspendsOnSave } from "../../web/src/lib/components/budgets/budget-form";
import type { Budget } from "../../web/src/lib/types";

const budget = (over: Partial<Budget> = {}): Budget => ({
  id: "b1",
  org_id: "o1",
  agent_id: null,
  kind: "cost_usd",
  amount: "20.00",
  thresholds_pct: [50, 80, 100],
  action_at_100: "notify",
  month: "2026-12",
  spend_usd: "12.0000",
  allowance_usd: "20.0000",
  used_pct: "60.0",
  suspended: false,
  created_at: "2026-12-01T00:00:00.000Z",
  updated_at: "2026-12-01T00:00:00.000Z",
  ...over,
});

describe("the budget form", () => {
  test("thresholds are read from commas or spaces; what is not a number reaches the server, which names it", () => {
    expect(parseThresholds("50, 80 100")).toEqual([50, 80, 100]);
    expect(parseThresholds(" 90 ,, 100 ")).toEqual([90, 100]);
    expect(parseThresholds("fifty")).toEqual([NaN]);
  });

  test("a USD budget set to suspend at or below the month's spend would suspend on save; compared exactly", () => {
    const b = budget({ spend_usd: "12.0000" });
    expect(suspendsOnSave(b, { kind: "cost_usd", amount: "12", action: "suspend" })).toBe(true);
    expect(suspendsOnSave(b, { kind: "cost_usd", amount: "11.99", action: "suspend" })).toBe(true);
    expect(suspendsOnSave(b, { kind: "cost_usd", amount: "12.01", action: "suspend" })).toBe(false);
    // 0.1 + 0.2 style float traps: 0.3000 spent against 0.30 is exactly at the allowance.
    expect(suspendsOnSave(budget({ spend_usd: "0.3000" }), { kind: "cost_usd", amount: "0.30", action: "suspend" })).toBe(true);
    expect(suspendsOnSave(budget({ spend_usd: "0.2999" }), { kind: "cost_usd", amount: "0.30", action: "suspend" })).toBe(false);
  });

  test("alert-only, margin floors, already suspended budgets and unreadable amounts never warn", () => {
    const b = budget();
    expect(suspendsOnSave(b, { kind: "cost_usd", amount: "5", action: "notify" })).toBe(false);
    expect(suspendsOnSave(b, { kind: "margin_floor_pct", amount: "5", action: "suspend" })).toBe(false);
    expect(suspendsOnSave(budget({ suspended: true }), { kind: "cost_usd", amount: "5", action: "suspend" })).toBe(false);
    expect(suspendsOnSave(b, { kind: "cost_usd", amount: "ten", action: "suspend" })).toBe(false);
  });
});
