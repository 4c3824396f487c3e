import type { Budget } from "../../types";

/** "50, 80 100" → [50, 80, 100]; what is not a number goes to the server as is, which names it. */
export function parseThresholds(text: string): number[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((t) => Number(t));
}

/**
 * Whether saving these fields would suspend the budget's agents at once: a USD budget set to
 * suspend at or below what the month has already cost, on a budget not suspending yet. (A margin
 * floor's allowance depends on revenue the server projects, so only the server knows; it alerts
 * and suspends at once too, and the list shows it.) Compared in integer ten-thousandths (the
 * spend has 4 decimals), never as floats.
 */
export function suspendsOnSave(budget: Budget, next: { kind: Budget["kind"]; amount: string; action: Budget["action_at_100"] }): boolean {
  if (budget.suspended || next.kind !== "cost_usd" || next.action !== "suspend") return false;
  const amount = toUnits(next.amount);
  const spend = toUnits(budget.spend_usd);
  return amount !== null && spend !== null && spend >= amount;
}

/** A non-negative decimal string as integer ten-thousandths, or null when it is not one. */
function toUnits(value: string): bigint | null {
  const m = /^(\d+)(?:\.(\d{1,4}))?$/.exec(value.trim());
  if (!m) return null;
  return BigInt(m[1]!) * 10_000n + BigInt((m[2] ?? "").padEnd(4, "0"));
}
