/**
 * Revenue proration (docs/billing.md, "Revenue"), pure: no I/O. Times are whole UTC seconds since the epoch; every
 * period is half-open [start, end) with `end` null while open. Amounts are exact BigInt rationals.
 */
import { add, dec, mul, type Ratio, ZERO, div } from "../../shared/money";
import { monthEnd, monthStart } from "../../shared/time";

export interface Period<T> {
  start: number;
  end: number | null;
  value: T;
}

/** What the organization's own history says: when it was active, and its default rate. */
export interface OrgHistory {
  active: Period<boolean>[];
  /** Default monthly rate per agent, decimal string in the org currency. */
  rates: Period<string>[];
}

/** One agent's history as far as this organization is concerned. */
export interface AgentHistory {
  /** The agent's assignments to this organization. */
  assignments: Period<true>[];
  /** Custom rate (null = inherit the org default). */
  rates: Period<string | null>[];
  statuses: Period<"active" | "archived" | string>[];
}

export interface AgentMonthRevenue {
  month: string;
  /** Revenue to `now` (the whole month when it is over), exact. */
  revenue: Ratio;
  /** The full month's revenue if nothing changes after `now`, exact; equals `revenue` for past months. */
  projected: Ratio;
  /** Seconds of the month (to `now`) that were billed: assigned, org active, agent not archived. */
  billedSeconds: number;
  /**
   * The rate in effect at the end of the agent's last billed part of the month up to and including
   * `now` (else at its last assigned moment): in the current month, the rate in effect now.
   */
  rate: string;
  rateSource: "custom" | "default";
  isPartial: boolean;
}

export const secondsOf = (d: Date) => Math.floor(d.getTime() / 1000);

function at<T>(periods: Period<T>[], t: number): Period<T> | undefined {
  return periods.find((p) => p.start <= t && (p.end === null || t < p.end));
}

function overlaps(p: { start: number; end: number | null }, from: number, to: number): boolean {
  return p.start < to && (p.end === null || p.end > from) && (p.end === null || p.end > p.start);
}

/**
 * Revenue of one agent in one organization for each month it was assigned there. A part of a month
 * counts when the agent was assigned to the organization, the organization was active and the agent
 * was not archived; its revenue is `rate × seconds ÷ seconds in the month`, the rate being the custom
 * one if set, else the organization's default, each as it was during that part.
 */
export function agentRevenue(org: OrgHistory, agent: AgentHistory, months: string[], now: number): AgentMonthRevenue[] {
  const out: AgentMonthRevenue[] = [];
  for (const month of months) {
    const ms = secondsOf(monthStart(month));
    const me = secondsOf(monthEnd(month));
    if (ms > now) continue;
    if (!agent.assignments.some((a) => overlaps(a, ms, me))) continue;
    const cuts = new Set<number>([ms, me]);
    if (now > ms && now < me) cuts.add(now);
    for (const list of [agent.assignments, agent.rates, agent.statuses, org.active, org.rates] as Period<unknown>[][]) {
      for (const p of list) {
        if (p.start > ms && p.start < me) cuts.add(p.start);
        if (p.end !== null && p.end > ms && p.end < me) cuts.add(p.end);
      }
    }
    const points = [...cuts].sort((a, b) => a - b);
    let revenue = ZERO;
    let projected = ZERO;
    let billed = 0;
    let lastBilled: { rate: string; source: "custom" | "default" } | undefined;
    let lastAssigned: { rate: string; source: "custom" | "default" } | undefined;
    for (let i = 0; i + 1 < points.length; i++) {
      const a = points[i]!;
      const b = points[i + 1]!;
      if (!at(agent.assignments, a)) continue;
      const custom = at(agent.rates, a)?.value ?? null;
      const rate = custom ?? at(org.rates, a)?.value ?? "0";
      const source = custom !== null ? "custom" : "default";
      // `now` is cut into whole seconds like every boundary, so a change committed in the second of
      // the read starts exactly at `now`: the part starting there is in effect now and names the
      // line's rate, though none of it is billed yet.
      if (a <= now) lastAssigned = { rate, source };
      const active = at(org.active, a)?.value === true;
      const archived = at(agent.statuses, a)?.value === "archived";
      if (!active || archived) continue;
      const r = dec(rate);
      projected = add(projected, mul(r, dec(b - a)));
      if (a <= now) {
        const len = Math.min(b, now) - a;
        revenue = add(revenue, mul(r, dec(len)));
        billed += len;
        lastBilled = { rate, source };
      }
    }
    const length = dec(me - ms);
    const last = lastBilled ?? lastAssigned ?? { rate: at(org.rates, Math.min(now, me) - 1)?.value ?? "0", source: "default" as const };
    out.push({
      month,
      revenue: div(revenue, length),
      projected: div(projected, length),
      billedSeconds: billed,
      rate: last.rate,
      rateSource: last.source,
      isPartial: now < me,
    });
  }
  return out;
}
