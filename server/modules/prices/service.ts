import { sql } from "drizzle-orm";
import { alias, type AnyPgColumn } from "drizzle-orm/pg-core";
import type { z } from "zod";
import { type DbOrTx, rows } from "../../../db/client";
import { fxRates, modelPrices } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import type { Ctx } from "../../context";
import { trimDecimal } from "../../shared/money";
import * as audit from "../audit/service";
import { eventsOfModels, lockPricingExclusive, repriceWhere } from "../usage/service";
import type { fxPutInput, pricesPutInput } from "./schema";

const today = () => new Date().toISOString().slice(0, 10);
const trimOrNull = (v: string | null) => (v === null ? null : trimDecimal(v));
const iso = (column: AnyPgColumn) => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
/** A column's own name, for the column lists of INSERT … ON CONFLICT DO UPDATE, where it may not be qualified. */
const name = (column: { name: string }) => sql.identifier(column.name);

async function listPrices(db: DbOrTx) {
  const m = modelPrices;
  const c = alias(modelPrices, "c");
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
    sql`select ${m.model} as model, ${m.provider} as provider, ${m.effectiveFrom}::text as effective_from, ${m.inputPerM}::text as input_per_m,
               ${m.outputPerM}::text as output_per_m, ${m.cacheReadPerM}::text as cache_read_per_m, ${m.cacheWritePerM}::text as cache_write_per_m,
               ${iso(m.updatedAt)} as updated_at,
               ${m.effectiveFrom} = (select max(${c.effectiveFrom}) from ${modelPrices} ${c} where ${c.model} = ${m.model} and ${c.effectiveFrom} <= ${today()}::date) as is_current
        from ${modelPrices} order by ${m.model}, ${m.effectiveFrom}`,
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
    const m = modelPrices;
    // The payload's fields are named like the columns they fill.
    const fields = [m.model, m.provider, m.effectiveFrom, m.inputPerM, m.outputPerM, m.cacheReadPerM, m.cacheWritePerM].map(name);
    const [model, provider, effectiveFrom, inputPerM, outputPerM, cacheReadPerM, cacheWritePerM] = fields;
    const updates = [provider, inputPerM, outputPerM, cacheReadPerM, cacheWritePerM].map((f) => sql`${f} = excluded.${f}`);
    await tx.execute(sql`
      insert into ${m} (${sql.join(fields, sql`, `)}, ${name(m.updatedAt)})
      select ${sql.join(fields, sql`, `)}, now()
      from jsonb_to_recordset(${payload}::jsonb) as x(${model} text, ${provider} text, ${effectiveFrom} date, ${inputPerM} numeric,
                                                      ${outputPerM} numeric, ${cacheReadPerM} numeric, ${cacheWritePerM} numeric)
      order by ${model}, ${effectiveFrom}
      on conflict (${model}, ${effectiveFrom}) do update set ${sql.join(updates, sql`, `)}, ${name(m.updatedAt)} = now()`);
    const models = [...new Set(input.prices.map((p) => p.model))];
    const result = await repriceWhere(tx, (e) => sql`${e.costUsd} is null and ${eventsOfModels(e, models)}`);
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
  const f = fxRates;
  const c = alias(fxRates, "c");
  const list = await rows<{ currency: string; effective_from: string; rate: string; updated_at: string; is_current: boolean }>(
    db,
    sql`select ${f.currency} as currency, ${f.effectiveFrom}::text as effective_from, ${f.rate}::text as rate, ${iso(f.updatedAt)} as updated_at,
               ${f.effectiveFrom} = (select max(${c.effectiveFrom}) from ${fxRates} ${c} where ${c.currency} = ${f.currency} and ${c.effectiveFrom} <= ${today()}::date) as is_current
        from ${fxRates} order by ${f.currency}, ${f.effectiveFrom}`,
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
    const [currency, effectiveFrom, rate, updatedAt] = [fxRates.currency, fxRates.effectiveFrom, fxRates.rate, fxRates.updatedAt].map(name);
    // The payload's fields are named like the columns they fill.
    await tx.execute(sql`
      insert into ${fxRates} (${currency}, ${effectiveFrom}, ${rate}, ${updatedAt})
      select ${currency}, ${effectiveFrom}, ${rate}, now()
      from jsonb_to_recordset(${payload}::jsonb) as x(${currency} text, ${effectiveFrom} date, ${rate} numeric)
      order by ${currency}, ${effectiveFrom}
      on conflict (${currency}, ${effectiveFrom}) do update set ${rate} = excluded.${rate}, ${updatedAt} = now()`);
    await audit.record(tx, ctx, { action: "fx.update", orgId: null, targetType: "fx_rate", targetId: null, before: { rates: replaced }, after: { rates: input.rates } });
    return { base: "USD" as const, rates: await listFx(tx) };
  });
}
