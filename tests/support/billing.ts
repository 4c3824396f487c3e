import { sql } from "drizzle-orm";
import { type Database, rows } from "../../db/client";
import type { Ctx } from "../../server/context";
import { agentAssignInput, agentUpdateInput } from "../../server/modules/agents/schema";
import * as agents from "../../server/modules/agents/service";
import { orgToggleInput, orgUpdateInput } from "../../server/modules/orgs/schema";
import * as orgs from "../../server/modules/orgs/service";
import { fxPutInput, pricesPutInput } from "../../server/modules/prices/schema";
import * as prices from "../../server/modules/prices/service";
import * as usage from "../../server/modules/usage/service";

/** Billing helpers for tests: every change goes through the services, as in production. */

export const moveAgent = (ctx: Ctx, id: string, orgId: string, at: string) =>
  agents.assign({ ctx, input: agentAssignInput.parse({ id, org_id: orgId, effective_at: at }) });

export const setAgentRate = (ctx: Ctx, id: string, rate: string | null, at: string) =>
  agents.update({ ctx, input: agentUpdateInput.parse({ id, billing_rate: rate, effective_at: at }) });

export const setAgentStatus = (ctx: Ctx, id: string, status: "active" | "archived", at: string) =>
  agents.update({ ctx, input: agentUpdateInput.parse({ id, status, effective_at: at }) });

export const setOrgActive = (ctx: Ctx, id: string, isActive: boolean, at: string) =>
  orgs.toggle({ ctx, input: orgToggleInput.parse({ id, is_active: isActive, effective_at: at }) });

export const setOrgRate = (ctx: Ctx, id: string, rate: string, at: string) =>
  orgs.update({ ctx, input: orgUpdateInput.parse({ id, billing_rate_per_agent: rate, effective_at: at }) });

export const putFx = (ctx: Ctx, currency: string, effectiveFrom: string, rate: string) =>
  prices.fxPut({ ctx, input: fxPutInput.parse({ rates: [{ currency, effective_from: effectiveFrom, rate }] }) });

export const putPrice = (ctx: Ctx, entry: Record<string, unknown>) => prices.put({ ctx, input: pricesPutInput.parse({ prices: [entry] }) });

let eventSeq = 0;
/** One usage event with a unique id unless given. */
export function event(agentId: string, fields: Record<string, unknown> = {}) {
  return { id: `ev-${process.pid}-${Date.now().toString(36)}-${eventSeq++}`, agent_id: agentId, model: "gpt-4o", input_tokens: 1000, output_tokens: 500, ...fields };
}

export const ingest = (ctx: Ctx, events: unknown[]) => usage.ingest({ ctx, input: { events } });

/**
 * Raw and rollup totals over the whole database (or one organization), as exact decimal strings.
 * `mismatched_keys` is "0" on the raw side and, on the rollup side, the number of rollup keys
 * (organization, agent, model, month) whose measures differ from the raw events', so
 * `expect(t.rolled).toEqual(t.raw)` checks every key, not only the sums.
 */
export async function totals(database: Database, orgId?: string) {
  const filter = orgId ? sql`where org_id = ${orgId}::uuid` : sql``;
  const [raw] = await rows<Record<string, string>>(
    database.db,
    sql`select count(*)::text as events, count(*) filter (where cost_usd is null)::text as unpriced,
               coalesce(sum(input_tokens), 0)::text as input, coalesce(sum(output_tokens), 0)::text as output,
               coalesce(sum(cache_read_tokens), 0)::text as cr, coalesce(sum(cache_write_tokens), 0)::text as cw,
               coalesce(sum(cost_usd), 0)::numeric(38, 18)::text as cost
        from usage_events ${filter}`,
  );
  const [rolled] = await rows<Record<string, string>>(
    database.db,
    sql`select coalesce(sum(events), 0)::text as events, coalesce(sum(unpriced_events), 0)::text as unpriced,
               coalesce(sum(input_tokens), 0)::text as input, coalesce(sum(output_tokens), 0)::text as output,
               coalesce(sum(cache_read_tokens), 0)::text as cr, coalesce(sum(cache_write_tokens), 0)::text as cw,
               coalesce(sum(cost_usd), 0)::numeric(38, 18)::text as cost
        from usage_month_totals ${filter}`,
  );
  const [keys] = await rows<{ n: string }>(
    database.db,
    sql`with raw as (select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date as month, count(*)::bigint as events,
                            count(*) filter (where cost_usd is null)::bigint as unpriced, sum(input_tokens)::bigint as i,
                            sum(output_tokens)::bigint as o, sum(cache_read_tokens)::bigint as cr, sum(cache_write_tokens)::bigint as cw,
                            coalesce(sum(cost_usd), 0)::numeric as cost
                     from usage_events ${filter} group by 1, 2, 3, 4),
             rolled as (select org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens, cache_read_tokens,
                               cache_write_tokens, cost_usd::numeric from usage_month_totals ${filter})
        select count(*)::text as n from ((select * from raw except select * from rolled) union all (select * from rolled except select * from raw)) d`,
  );
  return { raw: { ...raw!, mismatched_keys: "0" } as Record<string, string>, rolled: { ...rolled!, mismatched_keys: keys!.n } as Record<string, string> };
}
