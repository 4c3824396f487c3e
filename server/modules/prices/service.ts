import { sql } from "drizzle-orm";
import type { z } from "zod";
import { type DbOrTx, rows } from "../../../db/client";
import { authorize } from "../../auth/policy";
import type { Ctx } from "../../context";
import { trimDecimal } from "../../shared/money";
import * as audit from "../audit/service";
import { eventsOfModels, lockPricingExclusive, repriceWhere } from "../usage/service";
import type { fxPutInput, pricesPutInput } from "./schema";

const today = () => new Date().toISOString().slice(0, 10);
const trimOrNull = (v: string | null) => (v === null ? null : trimDecimal(v));

async function listPrices(db: DbOrTx) {
  const list = await rows<{
    model: string;
    provider: string | null;
    effective_from: string;
    input_per_m: string;
    output_per_m: string;
    cache_read_per_m: string | null;
    cache_write_per_m: string | null;
    updated_at: string;
    is_current: boolean;
  }>(
    db,
    sql`select model, provider, effective_from::text as effective_from, input_per_m::text as input_per_m, output_per_m::text as output_per_m,
               cache_read_per_m::text as cache_read_per_m, cache_write_per_m::text as cache_write_per_m,
               to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as updated_at,
               effective_from = (select max(c.effective_from) from model_prices c where c.model = m.model and c.effective_from <= ${today()}::date) as is_current
        from model_prices m order by model, effective_from`,
  );
  return list.map((p) => ({
    model: p.model,
    provider: p.provider,
    effective_from: p.effective_from,
    input_per_m: trimDecimal(p.input_per_m),
    output_per_m: trimDecimal(p.output_per_m),
    cache_read_per_m: trimOrNull(p.cache_read_per_m),
    cache_write_per_m: trimOrNull(p.cache_write_per_m),
    is_current: p.is_current === true,
    updated_at: p.updated_at,
  }));
}

/** Every model price entry (history included), by model and effective date. */
export async function list({ ctx }: { ctx: Ctx; input?: unknown }) {
  authorize(ctx.principal, "prices.read");
  return { prices: await listPrices(ctx.db) };
}

/**
 * Adds or replaces model price entries (keyed by model and effective date), then prices every
 * unpriced event of those models that a price now covers, rollups included, in one transaction.
 * Already priced events keep their cost until staff re-price a range.
 */
export async function put({ ctx, input }: { ctx: Ctx; input: z.infer<typeof pricesPutInput> }) {
  authorize(ctx.principal, "prices.write");
  return ctx.db.transaction(async (tx) => {
    await lockPricingExclusive(tx);
    // The entries this call replaces, for the audit entry's `before`.
    const replaced = (await listPrices(tx))
      .filter((p) => input.prices.some((n) => n.model === p.model && n.effective_from === p.effective_from))
      .map(({ is_current: _c, updated_at: _u, ...p }) => p);
    const payload = JSON.stringify(input.prices.map((p) => ({ ...p, provider: p.provider ?? null, cache_read_per_m: p.cache_read_per_m ?? null, cache_write_per_m: p.cache_write_per_m ?? null })));
    await tx.execute(sql`
      insert into model_prices (model, provider, effective_from, input_per_m, output_per_m, cache_read_per_m, cache_write_per_m, updated_at)
      select model, provider, effective_from, input_per_m, output_per_m, cache_read_per_m, cache_write_per_m, now()
      from jsonb_to_recordset(${payload}::jsonb) as x(model text, provider text, effective_from date, input_per_m numeric,
                                                      output_per_m numeric, cache_read_per_m numeric, cache_write_per_m numeric)
      order by model, effective_from
      on conflict (model, effective_from) do update set
        provider = excluded.provider, input_per_m = excluded.input_per_m, output_per_m = excluded.output_per_m,
        cache_read_per_m = excluded.cache_read_per_m, cache_write_per_m = excluded.cache_write_per_m, updated_at = now()`);
    const models = [...new Set(input.prices.map((p) => p.model))];
    const result = await repriceWhere(tx, sql`e.cost_usd is null and ${eventsOfModels(models)}`);
    await audit.record(tx, ctx, {
      action: "prices.update",
      orgId: null,
      targetType: "model_price",
      targetId: null,
      before: { prices: replaced },
      after: { prices: input.prices, priced: result.changed },
    });
    return { prices: await listPrices(tx), priced: result.changed };
  });
}

async function listFx(db: DbOrTx) {
  const list = await rows<{ currency: string; effective_from: string; rate: string; updated_at: string; is_current: boolean }>(
    db,
    sql`select currency, effective_from::text as effective_from, rate::text as rate,
               to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as updated_at,
               effective_from = (select max(c.effective_from) from fx_rates c where c.currency = f.currency and c.effective_from <= ${today()}::date) as is_current
        from fx_rates f order by currency, effective_from`,
  );
  return list.map((r) => ({ currency: r.currency, effective_from: r.effective_from, rate: trimDecimal(r.rate), is_current: r.is_current === true, updated_at: r.updated_at }));
}

/** Every FX rate entry (units per 1 USD), by currency and effective date. USD is always 1. */
export async function fxList({ ctx }: { ctx: Ctx; input?: unknown }) {
  authorize(ctx.principal, "prices.read");
  return { base: "USD" as const, rates: await listFx(ctx.db) };
}

/** Adds or replaces FX rate entries (keyed by currency and effective date). */
export async function fxPut({ ctx, input }: { ctx: Ctx; input: z.infer<typeof fxPutInput> }) {
  authorize(ctx.principal, "prices.write");
  return ctx.db.transaction(async (tx) => {
    const replaced = (await listFx(tx))
      .filter((r) => input.rates.some((n) => n.currency === r.currency && n.effective_from === r.effective_from))
      .map(({ is_current: _c, updated_at: _u, ...r }) => r);
    const payload = JSON.stringify(input.rates);
    await tx.execute(sql`
      insert into fx_rates (currency, effective_from, rate, updated_at)
      select currency, effective_from, rate, now()
      from jsonb_to_recordset(${payload}::jsonb) as x(currency text, effective_from date, rate numeric)
      order by currency, effective_from
      on conflict (currency, effective_from) do update set rate = excluded.rate, updated_at = now()`);
    await audit.record(tx, ctx, { action: "fx.update", orgId: null, targetType: "fx_rate", targetId: null, before: { rates: replaced }, after: { rates: input.rates } });
    return { base: "USD" as const, rates: await listFx(tx) };
  });
}
