import { type SQL, sql } from "drizzle-orm";
import type { z } from "zod";
import { type DbOrTx, rows } from "../../../db/client";
import { authorize, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, fieldErrorsFromZod } from "../../errors";
import type { IngestionSource } from "../../observability/metrics";
import { trimDecimal } from "../../shared/money";
import * as audit from "../audit/service";
import { fastEvent } from "./fast-validate";
import { MAX_BATCH, type repriceInput, type UsageEventInput, usageEventInput, type UsageIngestOutput } from "./schema";

/**
 * Advisory lock between ingestion (shared) and price writes or re-pricing (exclusive): an event is
 * either priced with a price that is committed, or stored before the price write, which then
 * prices it. Never both missed.
 */
const PRICING_LOCK = 7426_3312;
export const lockPricingExclusive = (tx: DbOrTx) => tx.execute(sql`select pg_advisory_xact_lock(${PRICING_LOCK})`);
const lockPricingShared = (tx: DbOrTx) => tx.execute(sql`select pg_advisory_xact_lock_shared(${PRICING_LOCK})`);

/** Events may be stamped at most this far in the future (clock skew of the sender). */
const FUTURE_SLACK_MS = 5 * 60 * 1000;

/** A dated snapshot suffix (`-20250514`, `-2024-08-06`): such a model falls back to its base model's price. */
const SNAPSHOT_SUFFIX = "-([0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2})$";

/**
 * The price row in effect for an event (alias `e` with `model` and `occurred_at`, or with `model`
 * and `day` when `day` is given): the event's own model first, else its base model without a
 * snapshot date; the latest entry effective on the event's UTC day.
 */
const priceLateral = (e: string, day: SQL = sql`(${sql.raw(e)}.occurred_at at time zone 'UTC')::date`) => sql`left join lateral (
    select mp.input_per_m, mp.output_per_m, mp.cache_read_per_m, mp.cache_write_per_m
    from model_prices mp
    where mp.model in (${sql.raw(e)}.model, regexp_replace(${sql.raw(e)}.model, ${SNAPSHOT_SUFFIX}, ''))
      and mp.effective_from <= ${day}
    order by (mp.model = ${sql.raw(e)}.model) desc, mp.effective_from desc
    limit 1
  ) p on true`;

/**
 * USD cost of an event from the price row `p` (null when there is none): tokens × USD per 1M ÷ 10^6,
 * a missing cache price falling back to the input price. Multiplication only, so it is exact.
 */
const pricedCost = (e: string) => sql`(
    ${sql.raw(e)}.input_tokens * p.input_per_m
    + ${sql.raw(e)}.output_tokens * p.output_per_m
    + ${sql.raw(e)}.cache_read_tokens * coalesce(p.cache_read_per_m, p.input_per_m)
    + ${sql.raw(e)}.cache_write_tokens * coalesce(p.cache_write_per_m, p.input_per_m)
  ) * 0.000001`;

interface Prepared {
  index: number;
  id: string;
  agent_id: string;
  model: string;
  provider: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd: string | null;
  occurred_at: string;
  content_hash: string;
}

/** Hash of the content as the client sent it (an omitted `occurred_at` stays omitted, so a re-send matches). */
function contentHash(e: UsageEventInput): string {
  const canonical = [
    e.agent_id.toLowerCase(),
    e.model,
    e.provider ?? null,
    e.input_tokens,
    e.output_tokens,
    e.cache_read_tokens ?? 0,
    e.cache_write_tokens ?? 0,
    e.cost_usd == null ? null : trimDecimal(e.cost_usd),
    e.occurred_at ? e.occurred_at.toISOString() : null,
  ];
  return Bun.SHA256.hash(JSON.stringify(canonical), "hex") as string;
}

type Rejection = UsageIngestOutput["rejected"][number];

/**
 * Stores usage events idempotently (SPEC §3). Each item is validated on its own; valid ones are
 * written by one set-based statement that attributes each to the organization its agent belonged to
 * at `occurred_at`, prices it (unless it carries `cost_usd`), skips ids already stored, and adds the
 * new rows to the monthly rollups, all in one transaction. A re-sent id with the same content is a
 * duplicate; with different content it is rejected. An organization-bound caller may only send
 * events of agents that were in its organization at `occurred_at`.
 */
export async function ingest({ ctx, input, source = "api" }: { ctx: Ctx; input: { events: unknown[] }; source?: IngestionSource }): Promise<UsageIngestOutput> {
  authorize(ctx.principal, "usage.ingest");
  if (input.events.length > MAX_BATCH) {
    throw new AppError("PAYLOAD_TOO_LARGE", `A batch holds at most ${MAX_BATCH} events; this one has ${input.events.length}. Split it.`, {
      errors: [{ path: "events", message: `must contain at most ${MAX_BATCH} events` }],
    });
  }
  const now = new Date();
  const rejected: Rejection[] = [];
  const byId = new Map<string, Prepared>();
  // Same id and content as an earlier item of this batch: it shares that item's fate, decided
  // below (a duplicate if the first is stored now or was before, else rejected like the first).
  const repeats: Prepared[] = [];
  const fate = new Map<string, Rejection | null>();
  let duplicates = 0;
  input.events.forEach((raw, index) => {
    const rawId = raw && typeof raw === "object" && typeof (raw as { id?: unknown }).id === "string" ? (raw as { id: string }).id : null;
    // The usual shape is checked by hand (fast); anything else goes through zod, which decides and
    // words the messages.
    let e = fastEvent(raw);
    if (!e) {
      const parsed = usageEventInput.safeParse(raw);
      if (!parsed.success) {
        const errors = fieldErrorsFromZod(parsed.error);
        rejected.push({ index, id: rawId, code: "invalid", message: errors.map((e) => `${e.path}: ${e.message}`).join("; ") });
        return;
      }
      e = parsed.data;
    }
    if (e.occurred_at && e.occurred_at.getTime() > now.getTime() + FUTURE_SLACK_MS) {
      rejected.push({ index, id: e.id, code: "invalid", message: "occurred_at: must not be more than 5 minutes in the future" });
      return;
    }
    const prepared: Prepared = {
      index,
      id: e.id,
      agent_id: e.agent_id.toLowerCase(),
      model: e.model,
      provider: e.provider ?? null,
      input_tokens: e.input_tokens,
      output_tokens: e.output_tokens,
      cache_read_tokens: e.cache_read_tokens ?? 0,
      cache_write_tokens: e.cache_write_tokens ?? 0,
      cost_usd: e.cost_usd ?? null,
      occurred_at: (e.occurred_at ?? now).toISOString(),
      content_hash: contentHash(e),
    };
    const earlier = byId.get(e.id);
    if (!earlier) byId.set(e.id, prepared);
    else if (earlier.content_hash === prepared.content_hash) repeats.push(prepared);
    else rejected.push({ index, id: e.id, code: "id_conflict", message: `id "${e.id}" appears earlier in this batch with different content` });
  });

  function reject(r: Rejection) {
    rejected.push(r);
    fate.set(r.id!, r);
  }

  const items = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let accepted = 0;
  let unpriced = 0;
  if (items.length > 0) {
    const tenant = tenantOrgId(ctx.principal);
    const outcome = await ctx.db.transaction(async (tx) => {
      await lockPricingShared(tx);
      const result = await rows<{ idx: number; agent_visible: boolean; has_org: boolean; attributable: boolean; inserted: boolean; unpriced: boolean }>(tx, ingestStatement(items, tenant));
      // One audit entry per call that stored something (a summary, not one row per event).
      const stored = result.filter((r) => r.inserted);
      if (stored.length > 0) {
        await audit.record(tx, ctx, {
          action: "usage.ingest",
          orgId: tenant,
          targetType: "usage",
          targetId: null,
          after: { accepted: stored.length, unpriced: stored.filter((r) => r.unpriced).length },
        });
      }
      return result;
    });
    const notInserted: Prepared[] = [];
    const byIndex = new Map(items.map((i) => [i.index, i]));
    for (const r of outcome) {
      const item = byIndex.get(Number(r.idx))!;
      if (!r.agent_visible || (r.has_org && !r.attributable)) {
        reject({ index: item.index, id: item.id, code: "unknown_agent", message: `agent_id: no agent ${item.agent_id}` });
      } else if (!r.has_org) {
        reject({ index: item.index, id: item.id, code: "before_agent_created", message: `occurred_at: ${item.occurred_at} is before the agent was created` });
      } else if (r.inserted) {
        accepted++;
        fate.set(item.id, null);
        if (r.unpriced) unpriced++;
      } else {
        notInserted.push(item);
      }
    }
    if (notInserted.length > 0) {
      // A fresh statement: it sees rows that concurrent batches committed while this one waited.
      const existing = await rows<{ id: string; content_hash: string }>(
        ctx.db,
        sql`select id, content_hash from usage_events where id in (select jsonb_array_elements_text(${JSON.stringify(notInserted.map((i) => i.id))}::jsonb))`,
      );
      const hashOf = new Map(existing.map((r) => [r.id, r.content_hash]));
      for (const item of notInserted) {
        if (hashOf.get(item.id) === item.content_hash) {
          duplicates++;
          fate.set(item.id, null);
        } else reject({ index: item.index, id: item.id, code: "id_conflict", message: `id "${item.id}" was already used for an event with different content` });
      }
    }
  }
  for (const item of repeats) {
    const first = fate.get(item.id);
    if (first === null) duplicates++;
    else if (first) rejected.push({ ...first, index: item.index });
  }
  rejected.sort((a, b) => a.index - b.index);
  ctx.metrics?.ingestion(source, { accepted, duplicates, rejected: rejected.length });
  return { accepted, duplicates, unpriced, rejected };
}

/**
 * One statement for the whole batch: resolve agent, organization and price for every item, insert
 * the attributable ones in id order (ON CONFLICT DO NOTHING keeps the first), fold the inserted rows
 * into the monthly rollups in key order (a fixed lock order, so concurrent batches cannot deadlock),
 * and report per item.
 */
function ingestStatement(items: Prepared[], tenant: string | null): SQL {
  const payload = JSON.stringify(
    items.map((i) => ({
      idx: i.index,
      id: i.id,
      agent_id: i.agent_id,
      model: i.model,
      provider: i.provider,
      input_tokens: i.input_tokens,
      output_tokens: i.output_tokens,
      cache_read_tokens: i.cache_read_tokens,
      cache_write_tokens: i.cache_write_tokens,
      cost_usd: i.cost_usd,
      occurred_at: i.occurred_at,
      content_hash: i.content_hash,
    })),
  );
  return sql`
    with input as (
      select * from jsonb_to_recordset(${payload}::jsonb) as x(
        idx int, id text, agent_id uuid, model text, provider text,
        input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint,
        cost_usd numeric, occurred_at timestamptz, content_hash text)
    ),
    day_prices as (
      -- One price lookup per model and UTC day of the batch, not one per event (docs/benchmarks.md, B4).
      select k.model, k.day, p.*
      from (select distinct model, (occurred_at at time zone 'UTC')::date as day from input) k
      ${priceLateral("k", sql`k.day`)}
    ),
    resolved as (
      -- An organization-bound caller sees only agents that are, or were at occurred_at, in its organization.
      select i.*, asg.org_id,
             (ag.id is not null and (${tenant}::uuid is null or ag.org_id = ${tenant}::uuid or asg.org_id = ${tenant}::uuid)) as agent_visible,
             (asg.org_id is not null and (${tenant}::uuid is null or asg.org_id = ${tenant}::uuid)) as attributable,
             coalesce(i.cost_usd, ${pricedCost("i")}) as cost
      from input i
      left join agents ag on ag.id = i.agent_id
      left join agent_assignments asg
        on asg.agent_id = i.agent_id and asg.starts_at <= i.occurred_at and (asg.ends_at is null or asg.ends_at > i.occurred_at)
      left join day_prices p on p.model = i.model and p.day = (i.occurred_at at time zone 'UTC')::date
    ),
    ins as (
      insert into usage_events (id, agent_id, org_id, model, provider, input_tokens, output_tokens, cache_read_tokens,
                                cache_write_tokens, cost_usd, cost_from_event, occurred_at, content_hash)
      select id, agent_id, org_id, model, provider, input_tokens, output_tokens, cache_read_tokens,
             cache_write_tokens, cost, cost_usd is not null, occurred_at, content_hash
      from resolved where attributable
      order by id
      on conflict (id) do nothing
      returning id, org_id, agent_id, model, occurred_at, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd
    ),
    rolled as (
      insert into usage_month_rollups (org_id, agent_id, model, month, events, unpriced_events, input_tokens, output_tokens,
                                       cache_read_tokens, cache_write_tokens, cost_usd)
      select org_id, agent_id, model, date_trunc('month', occurred_at at time zone 'UTC')::date, count(*), count(*) filter (where cost_usd is null),
             sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), coalesce(sum(cost_usd), 0)
      from ins
      group by 1, 2, 3, 4
      order by 1, 2, 3, 4
      on conflict (org_id, agent_id, model, month) do update set
        events = usage_month_rollups.events + excluded.events,
        unpriced_events = usage_month_rollups.unpriced_events + excluded.unpriced_events,
        input_tokens = usage_month_rollups.input_tokens + excluded.input_tokens,
        output_tokens = usage_month_rollups.output_tokens + excluded.output_tokens,
        cache_read_tokens = usage_month_rollups.cache_read_tokens + excluded.cache_read_tokens,
        cache_write_tokens = usage_month_rollups.cache_write_tokens + excluded.cache_write_tokens,
        cost_usd = usage_month_rollups.cost_usd + excluded.cost_usd
      returning 1
    )
    select r.idx, r.agent_visible, (r.org_id is not null) as has_org, r.attributable, (ins.id is not null) as inserted, (ins.id is not null and ins.cost_usd is null) as unpriced
    from resolved r left join ins on ins.id = r.id`;
}

/**
 * Re-prices the events matching `where` (alias `e`) that are priced from the table (events that
 * carried their own cost keep it), and moves the cost differences into the rollups, in one
 * statement. The caller holds the exclusive pricing lock. Returns how many were examined, changed,
 * and are still unpriced.
 */
export async function repriceWhere(tx: DbOrTx, where: SQL): Promise<{ examined: number; changed: number; unpriced: number }> {
  const [result] = await rows<{ examined: string; changed: string; unpriced: string }>(
    tx,
    sql`
      with target as (
        select e.id, e.org_id, e.agent_id, e.model, date_trunc('month', e.occurred_at at time zone 'UTC')::date as month,
               e.cost_usd as old_cost, ${pricedCost("e")} as new_cost
        from usage_events e
        ${priceLateral("e")}
        where not e.cost_from_event and (${where})
        order by e.id
        for update of e
      ),
      changed as (
        update usage_events u set cost_usd = t.new_cost
        from target t
        where u.id = t.id and t.new_cost is distinct from t.old_cost
        returning t.org_id, t.agent_id, t.model, t.month, t.old_cost, t.new_cost
      ),
      deltas as (
        select org_id, agent_id, model, month,
               count(*) filter (where new_cost is null) - count(*) filter (where old_cost is null) as unpriced_delta,
               coalesce(sum(new_cost), 0) - coalesce(sum(old_cost), 0) as cost_delta
        from changed
        group by 1, 2, 3, 4
      ),
      rolled as (
        -- Every changed event's rollup row exists (ingestion created it). No ingestion runs meanwhile:
        -- the caller holds the exclusive pricing lock.
        update usage_month_rollups r set
          unpriced_events = r.unpriced_events + d.unpriced_delta,
          cost_usd = r.cost_usd + d.cost_delta
        from deltas d
        where r.org_id = d.org_id and r.agent_id = d.agent_id and r.model = d.model and r.month = d.month
        returning 1
      )
      select (select count(*) from target)::text as examined,
             (select count(*) from changed)::text as changed,
             (select count(*) from target where new_cost is null)::text as unpriced`,
  );
  return { examined: Number(result!.examined), changed: Number(result!.changed), unpriced: Number(result!.unpriced) };
}

/**
 * Staff action after a price correction: re-prices the events that occurred in [from, to] (UTC
 * days, inclusive), optionally of one model, with the prices now in the table. Events that carried
 * their own `cost_usd` keep it. Rollups move by the same amounts in the same transaction.
 */
export async function reprice({ ctx, input }: { ctx: Ctx; input: z.infer<typeof repriceInput> }) {
  authorize(ctx.principal, "usage.reprice");
  const from = `${input.from}T00:00:00Z`;
  const toExclusive = new Date(new Date(`${input.to}T00:00:00Z`).getTime() + 86_400_000).toISOString();
  return ctx.db.transaction(async (tx) => {
    await lockPricingExclusive(tx);
    const where = sql`e.occurred_at >= ${from}::timestamptz and e.occurred_at < ${toExclusive}::timestamptz
      ${input.model ? sql`and (e.model = ${input.model} or regexp_replace(e.model, ${SNAPSHOT_SUFFIX}, '') = ${input.model})` : sql``}`;
    const result = await repriceWhere(tx, where);
    await audit.record(tx, ctx, {
      action: "usage.reprice",
      orgId: null,
      targetType: "usage",
      targetId: null,
      after: { from: input.from, to: input.to, model: input.model ?? null, ...result },
    });
    return { from: input.from, to: input.to, model: input.model ?? null, ...result };
  });
}

/** SQL condition (alias `e`) for events of any of `models`, their dated snapshots included. */
export function eventsOfModels(models: string[]): SQL {
  const list = sql.join(
    models.map((m) => sql`${m}`),
    sql`, `,
  );
  return sql`(e.model in (${list}) or regexp_replace(e.model, ${SNAPSHOT_SUFFIX}, '') in (${list}))`;
}
