import { type SQL, sql } from "drizzle-orm";
import { alias, type AnyPgColumn } from "drizzle-orm/pg-core";
import type { z } from "zod";
import { copyIn, type DbOrTx, rows, type Tx } from "../../../db/client";
import { agentAssignments, agents, ingestionStats, modelPrices, otelPendingSpans, otelSpans, usageEventIds, usageEvents, usageMonthDeltas, usageMonthRollups, usageUnpricedNotices } from "../../../db/schema";
import { authorize, seesCosts, tenantOrgId } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, fieldErrorsFromZod } from "../../errors";
import { log } from "../../observability/log";
import type { IngestionCounts, IngestionSource } from "../../observability/metrics";
import { trimDecimal } from "../../shared/money";
import { UUID_PATTERN } from "../../shared/uuid";
import * as audit from "../audit/service";
import * as budgets from "../budgets/service";
import * as events from "../events/service";
import * as retention from "../retention/service";
import { fastEvent } from "./fast-validate";
import { copyValue, csvHeader, type ImportFormat, type LineEvent, ndjsonEvent, readLines } from "./import";
import { litellmBatch, MAX_LITELLM_PAYLOADS, parseLitellmBody } from "./litellm";
import type { BillableEvent, MappedSpan } from "./otlp";
import { retentionStart } from "./retention";
import { MAX_BATCH, MAX_IMPORT_ERRORS, type repriceInput, type UsageEventInput, usageEventInput, type UsageImportOutput, type UsageIngestOutput } from "./schema";

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

// SQL below names tables and columns through their Drizzle objects (a renamed column fails the type
// check, not ingestion). Derived tables (the batch's input, CTEs) name their columns after the
// table columns they carry, so `at("i", usageEvents.model)` is the batch's model.

/** `alias.column` for a derived table whose column is named like `column`. */
const at = (alias: string, column: AnyPgColumn) => sql`${sql.identifier(alias)}.${sql.identifier(column.name)}`;
/** A column's own name (insert lists, SET targets, and the names of derived columns). */
const name = (column: AnyPgColumn) => sql.identifier(column.name);
const names = (columns: AnyPgColumn[]) => sql.join(columns.map(name), sql`, `);

const ue = usageEvents;
const ur = usageMonthRollups;
const mp = alias(modelPrices, "mp");
/** The events alias that re-pricing conditions are written against. */
const e = alias(usageEvents, "e");
export type EventsAlias = typeof e;

/**
 * The price row `p` in effect for an event of `model` on UTC day `day`: the model's own price first,
 * else its base model's without a snapshot date; the latest entry effective on that day.
 */
const priceLateral = (model: SQL, day: SQL) => sql`left join lateral (
    select ${mp.inputPerM}, ${mp.outputPerM}, ${mp.cacheReadPerM}, ${mp.cacheWritePerM}
    from ${modelPrices} ${mp}
    where ${mp.model} in (${model}, regexp_replace(${model}, ${SNAPSHOT_SUFFIX}, ''))
      and ${mp.effectiveFrom} <= ${day}
    order by (${mp.model} = ${model}) desc, ${mp.effectiveFrom} desc
    limit 1
  ) p on true`;

/**
 * USD cost of the event row `source` (columns named like usage_events') from the price row `p`
 * (null when there is none): tokens × USD per 1M ÷ 10^6, a missing cache price falling back to the
 * input price. Multiplication only, so it is exact.
 */
function pricedCost(source: string): SQL {
  const tokens = (column: AnyPgColumn) => at(source, column);
  const price = (column: AnyPgColumn) => at("p", column);
  return sql`(
    ${tokens(ue.inputTokens)} * ${price(modelPrices.inputPerM)}
    + ${tokens(ue.outputTokens)} * ${price(modelPrices.outputPerM)}
    + ${tokens(ue.cacheReadTokens)} * coalesce(${price(modelPrices.cacheReadPerM)}, ${price(modelPrices.inputPerM)})
    + ${tokens(ue.cacheWriteTokens)} * coalesce(${price(modelPrices.cacheWritePerM)}, ${price(modelPrices.inputPerM)})
  ) * 0.000001`;
}

/** The UTC day of an instant. */
const utcDay = (instant: SQL) => sql`(${instant} at time zone 'UTC')::date`;

interface Prepared {
  index: number;
  id: string;
  /** The agent's Orgdesk id: as sent, or resolved from `agent_ref` before the statement runs. */
  agent_id: string;
  /** An external reference still to resolve (docs/integrations.md, "How an agent is found"), else null. */
  agent_ref: string | null;
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

/** The batch's input columns, named like the usage_events columns they fill, with their types and values. */
const INPUT: [AnyPgColumn, string, (item: Prepared) => unknown][] = [
  [ue.id, "text", (i) => i.id],
  [ue.agentId, "uuid", (i) => i.agent_id],
  [ue.model, "text", (i) => i.model],
  [ue.provider, "text", (i) => i.provider],
  [ue.inputTokens, "bigint", (i) => i.input_tokens],
  [ue.outputTokens, "bigint", (i) => i.output_tokens],
  [ue.cacheReadTokens, "bigint", (i) => i.cache_read_tokens],
  [ue.cacheWriteTokens, "bigint", (i) => i.cache_write_tokens],
  [ue.costUsd, "numeric", (i) => i.cost_usd],
  [ue.occurredAt, "timestamptz", (i) => i.occurred_at],
  [ue.contentHash, "text", (i) => i.content_hash],
];
const INPUT_COLUMNS = sql.join(
  INPUT.map(([column, type]) => sql`${name(column)} ${sql.raw(type)}`),
  sql`, `,
);

/** The batch as the ingestion statement's input relation: one JSON parameter read by `jsonb_to_recordset`. */
function jsonInput(items: Prepared[]): SQL {
  const payload = JSON.stringify(
    items.map((item) => {
      const row: Record<string, unknown> = { idx: item.index };
      for (const [column, , value] of INPUT) row[column.name] = value(item);
      return row;
    }),
  );
  return sql`select * from jsonb_to_recordset(${payload}::jsonb) as x(idx int, ${INPUT_COLUMNS})`;
}

/** Hash of the content as the client sent it (an omitted `occurred_at` stays omitted, so a re-send matches). */
function contentHash(e: UsageEventInput): string {
  const canonical = [
    e.agent_id !== undefined ? e.agent_id.toLowerCase() : `ref:${e.agent_external_id}`,
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

/** A batch checked item by item: the distinct ids to store (in id order), the items repeating one of them, the rejected. */
interface Checked {
  items: Prepared[];
  repeats: Prepared[];
  rejected: Rejection[];
}

/**
 * Validates each item on its own. The usual shape is checked by hand (fast); anything else goes
 * through zod, which decides and words the messages. An item with the id and content of an earlier
 * one is a repeat, sharing that item's fate; with other content it is rejected.
 */
function validateBatch(events: unknown[], now: Date, notBefore: Date | null, indexOf: (position: number) => number = (position) => position): Checked {
  const rejected: Rejection[] = [];
  const byId = new Map<string, Prepared>();
  const repeats: Prepared[] = [];
  events.forEach((raw, position) => {
    const index = indexOf(position);
    const rawId = raw && typeof raw === "object" && typeof (raw as { id?: unknown }).id === "string" ? (raw as { id: string }).id : null;
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
    if (notBefore && e.occurred_at && e.occurred_at.getTime() < notBefore.getTime()) {
      const message = `occurred_at: ${e.occurred_at.toISOString()} is before ${notBefore.toISOString()}, the start of the usage retention window; events that old are no longer kept and could not be de-duplicated`;
      rejected.push({ index, id: e.id, code: "outside_retention", message });
      return;
    }
    const prepared: Prepared = {
      index,
      id: e.id,
      agent_id: e.agent_id?.toLowerCase() ?? "",
      agent_ref: e.agent_id === undefined ? e.agent_external_id! : null,
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
  const items = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items, repeats, rejected };
}

interface StoredRow {
  idx: number;
  agent_visible: boolean;
  has_org: boolean;
  attributable: boolean;
  inserted: boolean;
  unpriced: boolean;
  /** The organization the event is attributed to (null when none). */
  org: string | null;
}

/**
 * Resolves the external references of `items` in one query: a reference names the agent whose
 * external id it is, else the agent whose Orgdesk id it is (a runtime may know either); never a
 * name. Returns the items it could not resolve. Whether the caller may see the agent is the
 * ingestion statement's to decide, so an agent of another tenant is refused exactly like an unknown one.
 */
async function resolveRefs(db: DbOrTx, items: Prepared[]): Promise<Prepared[]> {
  const refs = [...new Set(items.flatMap((i) => (i.agent_ref === null ? [] : [i.agent_ref])))];
  if (refs.length === 0) return [];
  const uuids = refs.filter((r) => UUID_PATTERN.test(r)).map((r) => r.toLowerCase());
  const found = await rows<{ id: string; external_id: string | null }>(
    db,
    sql`select ${agents.id}::text as id, ${agents.externalId} as external_id from ${agents}
        where ${agents.externalId} in (select jsonb_array_elements_text(${JSON.stringify(refs)}::jsonb))
           or ${agents.id} in (select jsonb_array_elements_text(${JSON.stringify(uuids)}::jsonb)::uuid)`,
  );
  const byExternal = new Map(found.filter((r) => r.external_id !== null).map((r) => [r.external_id!, r.id]));
  const byId = new Set(found.map((r) => r.id));
  const unresolved: Prepared[] = [];
  for (const item of items) {
    if (item.agent_ref === null) continue;
    const id = byExternal.get(item.agent_ref) ?? (byId.has(item.agent_ref.toLowerCase()) ? item.agent_ref.toLowerCase() : null);
    if (id) item.agent_id = id;
    else unresolved.push(item);
  }
  return unresolved;
}

/**
 * How a batch reaches the ingestion statement: the relation it reads the items from (loaded in the
 * batch's transaction), and the action its audit entry names.
 */
interface Loader {
  input: (tx: Tx, items: Prepared[]) => Promise<SQL>;
  action: "usage.ingest" | "usage.import";
}
const JSON_LOADER: Loader = { input: async (_tx, items) => jsonInput(items), action: "usage.ingest" };

/**
 * Runs the ingestion statement for `items` in one transaction, with one audit entry when it stored
 * anything, and the evaluation of the budgets it may have moved queued in the same transaction
 * (docs/decisions.md, "Budget evaluation after ingestion").
 */
async function store(ctx: Ctx, items: Prepared[], tenant: string | null, load: Loader, audited = true): Promise<StoredRow[]> {
  try {
    return await storeOnce(ctx, items, tenant, load, audited);
  } catch (err) {
    // A month without a partition yet (the job creates them ahead; a backdated batch can still meet
    // one): create it, then run the batch again (docs/decisions.md, "Partitioned usage events").
    if (!retention.isMissingPartition(err)) throw err;
    await retention.ensurePartitions(ctx.db, items.map((i) => i.occurred_at));
    return storeOnce(ctx, items, tenant, load, audited);
  }
}

async function storeOnce(ctx: Ctx, items: Prepared[], tenant: string | null, load: Loader, audited: boolean): Promise<StoredRow[]> {
  return ctx.db.transaction(async (tx) => {
    await lockPricingShared(tx);
    const result = await rows<StoredRow>(tx, ingestStatement(await load.input(tx, items), tenant));
    // One audit entry per call that stored something (a summary, not one row per event).
    const stored = result.filter((r) => r.inserted);
    if (stored.length > 0) {
      const byIndex = new Map(items.map((i) => [i.index, i]));
      const touched = new Map<string, { orgId: string; agentId: string; month: string }>();
      for (const r of stored) {
        const item = byIndex.get(Number(r.idx))!;
        const month = item.occurred_at.slice(0, 7);
        touched.set(`${r.org}|${item.agent_id}|${month}`, { orgId: r.org!, agentId: item.agent_id, month });
      }
      await budgets.queueEvaluations(tx, [...touched.values()]);
      if (audited) await audit.record(tx, ctx, {
        action: load.action,
        orgId: tenant,
        targetType: "usage",
        targetId: null,
        after: { accepted: stored.length, unpriced: stored.filter((r) => r.unpriced).length },
      });
      await noticeUnpriced(tx, stored.filter((r) => r.unpriced).map((r) => ({ row: r, item: byIndex.get(Number(r.idx))! })));
    }
    return result;
  });
}

/**
 * Sends `usage.unpriced_model` for the first unpriced event of each model and UTC day (of
 * `occurred_at`) among the rows this ingestion stored, unless an earlier ingestion already did:
 * the notice table's primary key decides, in this transaction, so concurrent ingestions of the same
 * model and day send it once (the second waits on the first's row, then inserts nothing). Rows are
 * inserted in key order so that two ingestions never wait on each other crosswise.
 */
async function noticeUnpriced(tx: Tx, stored: { row: StoredRow; item: Prepared }[]): Promise<void> {
  if (stored.length === 0) return;
  const first = new Map<string, { row: StoredRow; item: Prepared; day: string }>();
  for (const s of stored) {
    const day = s.item.occurred_at.slice(0, 10);
    const key = `${s.item.model}\u0000${day}`;
    const seen = first.get(key);
    // The earliest event of the model that day in this batch (ties by id).
    if (!seen || s.item.occurred_at < seen.item.occurred_at || (s.item.occurred_at === seen.item.occurred_at && s.item.id < seen.item.id)) first.set(key, { ...s, day });
  }
  const candidates = [...first.values()].sort((a, b) => (a.item.model < b.item.model ? -1 : a.item.model > b.item.model ? 1 : a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  const inserted = await tx
    .insert(usageUnpricedNotices)
    .values(candidates.map((c) => ({ model: c.item.model, day: c.day, eventId: c.item.id })))
    .onConflictDoNothing()
    .returning({ model: usageUnpricedNotices.model, day: usageUnpricedNotices.day });
  const isNew = new Set(inserted.map((r) => `${r.model}\u0000${r.day}`));
  for (const c of candidates) {
    if (!isNew.has(`${c.item.model}\u0000${c.day}`)) continue;
    await events.emit(tx, "usage.unpriced_model", {
      model: c.item.model,
      day: c.day,
      first_event: { id: c.item.id, agent_id: c.item.agent_id, organization_id: c.row.org, occurred_at: c.item.occurred_at },
    });
  }
}

/**
 * What became of each id that was not inserted: a fresh statement (it sees rows that concurrent
 * batches committed while this one waited) compares its stored content with the item's.
 */
async function duplicatesAmong(db: DbOrTx, items: Prepared[]): Promise<Set<string>> {
  const existing = await rows<{ id: string; content_hash: string }>(
    db,
    sql`select ${ue.id} as id, ${ue.contentHash} as content_hash from ${ue}
        where ${ue.id} in (select jsonb_array_elements_text(${JSON.stringify(items.map((i) => i.id))}::jsonb))`,
  );
  const hashOf = new Map(existing.map((r) => [r.id, r.content_hash]));
  return new Set(items.filter((i) => hashOf.get(i.id) === i.content_hash).map((i) => i.id));
}

/**
 * Stores usage events idempotently (docs/billing.md, "Usage ingestion"). Each item is validated on
 * its own; valid ones are written by one set-based statement that attributes each to the
 * organization its agent belonged to at `occurred_at`, prices it (unless it carries `cost_usd`),
 * skips ids already stored, and adds the new rows to the monthly rollups, all in one transaction. A
 * re-sent id with the same content is a duplicate; with different content it is rejected. An
 * organization-bound caller may only send events of agents that were in its organization at
 * `occurred_at`.
 */
export async function ingest({
  ctx,
  input,
  source = "api",
  stats = true,
  audited = true,
}: {
  ctx: Ctx;
  input: { events: unknown[] };
  source?: IngestionSource;
  /** Add the counts to the source's ingestion statistics (false where the caller counts its own request). */
  stats?: boolean;
  /** Write the `usage.ingest` audit entry (false where the caller writes an entry of its own in the same transaction). */
  audited?: boolean;
}): Promise<UsageIngestOutput> {
  authorize(ctx.principal, "usage.ingest");
  if (input.events.length > MAX_BATCH) {
    throw new AppError("PAYLOAD_TOO_LARGE", `A batch holds at most ${MAX_BATCH} events; this one has ${input.events.length}. Split it.`, {
      errors: [{ path: "events", message: `must contain at most ${MAX_BATCH} events` }],
    });
  }
  const now = new Date();
  const result = await ingestChecked(ctx, validateBatch(input.events, now, retentionStart(ctx.config.usageRetentionMonths, now)), JSON_LOADER, audited);
  const { accepted, duplicates, unpriced, rejected } = result;
  ctx.metrics?.ingestion(source, { accepted, duplicates, rejected: rejected.length });
  if (stats && input.events.length > 0) await recordIngestion(ctx.db, source, { accepted, duplicates, rejected: rejected.length });
  // Whether a model has a price is about token cost, which an organization-bound caller never sees.
  return { accepted, duplicates, ...(seesCosts(ctx.principal) ? { unpriced } : {}), rejected };
}

/**
 * Stores a validated batch (the rules of `ingest`, which every source shares): resolves external
 * references, runs the ingestion statement over the relation `load` provides, and decides the fate
 * of every item, repeats included. Rejections come sorted by index.
 */
async function ingestChecked(ctx: Ctx, { items: checked, repeats, rejected }: Checked, load: Loader, audited = true): Promise<{ accepted: number; duplicates: number; unpriced: number; rejected: Rejection[] }> {
  // The fate of each stored or refused id: null when it is stored (now or before), else its rejection.
  const fate = new Map<string, Rejection | null>();
  const reject = (r: Rejection) => {
    rejected.push(r);
    fate.set(r.id!, r);
  };
  let accepted = 0;
  let unpriced = 0;
  let duplicates = 0;
  const unresolved = new Set(await resolveRefs(ctx.db, checked));
  for (const item of unresolved) reject({ index: item.index, id: item.id, code: "unknown_agent", message: `agent_external_id: no agent ${item.agent_ref}` });
  const items = unresolved.size === 0 ? checked : checked.filter((i) => !unresolved.has(i));
  if (items.length > 0) {
    const byIndex = new Map(items.map((i) => [i.index, i]));
    const notInserted: Prepared[] = [];
    for (const r of await store(ctx, items, tenantOrgId(ctx.principal), load, audited)) {
      const item = byIndex.get(Number(r.idx))!;
      if (!r.agent_visible || (r.has_org && !r.attributable)) {
        const message = item.agent_ref === null ? `agent_id: no agent ${item.agent_id}` : `agent_external_id: no agent ${item.agent_ref}`;
        reject({ index: item.index, id: item.id, code: "unknown_agent", message });
      } else if (!r.has_org) {
        reject({ index: item.index, id: item.id, code: "before_agent_created", message: `occurred_at: ${item.occurred_at} is before the agent was created` });
      } else if (r.inserted) {
        accepted++;
        fate.set(item.id, null);
        if (r.unpriced) unpriced++;
      } else notInserted.push(item);
    }
    if (notInserted.length > 0) {
      const same = await duplicatesAmong(ctx.db, notInserted);
      for (const item of notInserted) {
        if (same.has(item.id)) {
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
  return { accepted, duplicates, unpriced, rejected };
}

/**
 * The bulk import's loader: the batch goes by COPY into a temporary table of the batch's transaction
 * (dropped at commit), which the ingestion statement reads instead of a JSON parameter.
 */
const IMPORT_STAGE = sql.identifier("usage_import_batch");

/** Items as rows of PostgreSQL's COPY text format, in the staging table's column order. */
function copyText(items: Prepared[]): string {
  let text = "";
  for (const item of items) {
    text += item.index;
    for (const [, , value] of INPUT) text += "\t" + copyValue(value(item));
    text += "\n";
  }
  return text;
}

/**
 * The import's loader for one validated batch. When no item names its agent by an external
 * reference (resolved later, in the batch's turn), the COPY text is made now, while the previous
 * batch is still being stored (docs/scaling.md, "Bulk import").
 */
function importLoader(checked: Checked): Loader {
  const early = checked.items.some((i) => i.agent_ref !== null) ? null : { items: checked.items, text: copyText(checked.items) };
  return {
    action: "usage.import",
    input: async (tx, items) => {
      // A batch's sorts (by model and day for pricing, by id for the insert) fit in memory: on disk
      // they took a third of the statement (docs/benchmarks.md, B7).
      await tx.execute(sql`set local work_mem = '64MB'`);
      await tx.execute(sql`create temporary table ${IMPORT_STAGE} (idx int, ${INPUT_COLUMNS}) on commit drop`);
      await copyIn(tx, "copy usage_import_batch from stdin", early && early.items === items ? early.text : copyText(items));
      return sql`select * from ${IMPORT_STAGE}`;
    },
  };
}

/**
 * Bulk import of usage history (docs/integrations.md, "Bulk import"): a CSV (header = Event field
 * names) or NDJSON stream of any length, read line by line as it arrives and stored in batches of
 * `config.importBatchRows`, each in its own transaction through the same rules as `ingest`
 * (idempotency, attribution, pricing, rollups, notices, budgets). Memory holds at most two batches
 * (one being stored while the next is read). A batch is stored whole or not at all: a client that
 * hangs up leaves the complete batches stored, and running the same file again completes it
 * (what is stored is counted as duplicates). A line that cannot be read or is invalid is rejected
 * on its own, named by its line number.
 */
export async function importUsage({ ctx, input }: { ctx: Ctx; input: { format: ImportFormat; body: ReadableStream<Uint8Array> } }): Promise<UsageImportOutput> {
  authorize(ctx.principal, "usage.ingest");
  const out: UsageImportOutput = { accepted: 0, duplicates: 0, rejected: 0, errors: [] };
  const batchRows = ctx.config.importBatchRows;
  let read: ((text: string) => LineEvent) | null = input.format === "ndjson" ? ndjsonEvent : null;
  let events: unknown[] = [];
  let lines: number[] = [];
  let unread: Rejection[] = [];
  // The batch being stored while the next is read; it settles to its error, or null.
  let storing: Promise<unknown> = Promise.resolve(null);
  const report = (rejections: Rejection[]) => {
    out.rejected += rejections.length;
    for (const r of rejections) {
      if (out.errors.length >= MAX_IMPORT_ERRORS) break;
      out.errors.push({ line: r.index, id: r.id, code: r.code, message: r.message });
    }
  };
  // A batch that could not be stored (database unavailable, …) ends the import with its error.
  let storeFailure: unknown = null;
  const flush = async () => {
    // The batch is validated (and its COPY text made) while the previous one is still being stored:
    // JavaScript's share of a batch runs beside the database's instead of before it.
    const now = new Date();
    const batchLines = lines;
    const checked = validateBatch(events, now, retentionStart(ctx.config.usageRetentionMonths, now), (p) => batchLines[p]!);
    const loader = events.length === 0 ? null : importLoader(checked);
    const batch = { unread };
    events = [];
    lines = [];
    unread = [];
    storeFailure = await storing;
    if (storeFailure) throw storeFailure;
    storing = (async () => {
      const result = loader === null ? { accepted: 0, duplicates: 0, rejected: [] } : await ingestChecked(ctx, checked, loader);
      const counts = { accepted: result.accepted, duplicates: result.duplicates, rejected: result.rejected.length + batch.unread.length };
      ctx.metrics?.ingestion("import", counts);
      await recordIngestion(ctx.db, "import", counts);
      // A batch leaves tens of megabytes of garbage (its lines, events, COPY text and result rows);
      // collecting it now keeps the process's memory flat over a file of any length instead of
      // letting the heap swell between the collector's own, lazier cycles (docs/decisions.md).
      Bun.gc(true);
      out.accepted += result.accepted;
      out.duplicates += result.duplicates;
      report(batch.unread.length === 0 ? result.rejected : [...batch.unread, ...result.rejected].sort((a, b) => a.index - b.index));
    })().then(
      () => null,
      (err: unknown) => err,
    );
  };
  try {
    for await (const block of readLines(input.body)) {
      for (let k = 0; k < block.lines.length; k++) {
        const line = block.first + k;
        let text = block.lines[k]!;
        if (typeof text !== "string") {
          // Without a header no line can be read: the whole file is refused, before anything is stored.
          if (!read) throw new AppError("BAD_REQUEST", `The first line must be the CSV header naming the Event fields; ${text.error}`, { errors: [{ path: `line ${line}`, message: text.error }] });
          unread.push({ index: line, id: null, code: "invalid", message: text.error });
          if (unread.length >= batchRows) await flush();
          continue;
        }
        if (text.endsWith("\r")) text = text.slice(0, -1);
        if (line === 1) text = text.replace(/^\uFEFF/, "");
        if (text.trim() === "") continue;
        if (!read) {
          read = csvHeader(text);
          continue;
        }
        const parsed = read(text);
        if ("error" in parsed) unread.push({ index: line, id: parsed.id, code: "invalid", message: parsed.error });
        else {
          events.push(parsed.event);
          lines.push(line);
        }
        if (events.length + unread.length >= batchRows) await flush();
      }
    }
  } catch (err) {
    // The body broke off (the client hung up): the batch being read is dropped whole; the one
    // being stored is complete and finishes before the request ends.
    await storing;
    if (err instanceof AppError || (storeFailure && err === storeFailure)) throw err;
    throw new AppError("BAD_REQUEST", "The upload broke off before the end of the file; the complete batches before it are stored: send the same file again to finish");
  }
  if (!read) throw new AppError("BAD_REQUEST", "The file is empty: its first line must be the CSV header naming the Event fields", { errors: [{ path: "line 1", message: "is missing" }] });
  await flush();
  const failed = await storing;
  if (failed) throw failed;
  return out;
}

/**
 * Ingests the body of LiteLLM's `generic_api` callback (docs/integrations.md): the payloads of any
 * of its three log formats become usage events (`litellm:<id>`, agent by key alias or end user,
 * fresh input derived) that go through `ingest`. Failed calls are counted in `skipped`, never
 * billed; a rejection's index is the payload's position in the body.
 */
export async function ingestLitellm({ ctx, input }: { ctx: Ctx; input: { body: string } }): Promise<UsageIngestOutput & { skipped: number }> {
  authorize(ctx.principal, "usage.ingest");
  const payloads = parseLitellmBody(input.body);
  if (payloads.length > MAX_LITELLM_PAYLOADS) {
    throw new AppError("PAYLOAD_TOO_LARGE", `A request holds at most ${MAX_LITELLM_PAYLOADS} payloads; this one has ${payloads.length}. Lower LiteLLM's batch size.`);
  }
  const { events, positions, skipped } = litellmBatch(payloads);
  const result = await ingest({ ctx, input: { events }, source: "litellm" });
  return { ...result, rejected: result.rejected.map((r) => ({ ...r, index: positions[r.index]! })), skipped };
}

/** How long a billable span may wait for an ancestor that names its agent before it counts as unattributed. */
export const OTEL_ATTRIBUTION_WINDOW_MS = 30 * 60 * 1000;
/** How far up a trace the agent of a span is looked for. */
const MAX_SPAN_DEPTH = 64;

export interface OtlpIngestResult {
  accepted: number;
  duplicates: number;
  /** Billable spans of this request now waiting for an ancestor that names their agent. */
  pending: number;
  /** Billable spans of this request that can never be attributed (no agent anywhere, an unknown agent, no model). */
  rejectedSpans: number;
  /** The first causes of the rejections. */
  errorMessage: string;
}

type Resolution = { trace_id: string; span_id: string; agent_ref: string | null; parent_span_id: string | null; found: boolean };

/**
 * Ingests OpenTelemetry spans (docs/integrations.md, "OpenTelemetry"). In one transaction, with the
 * request's traces locked (so a child and its parent arriving in two concurrent requests cannot
 * miss each other): every span is remembered with its parent and agent id; the agent of each
 * billable span of the request, and of every span of these traces still waiting, is looked up the
 * chain of ancestors; the billable spans whose ancestor has not arrived yet are kept waiting; the
 * attributed spans are ingested like any event (`otel:<traceId>:<spanId>`, so re-exports are
 * duplicates) and the waiting ones now billed are let go. Spans without usage bill nothing.
 */
export async function ingestOtlp({ ctx, input }: { ctx: Ctx; input: { spans: MappedSpan[] } }): Promise<OtlpIngestResult> {
  authorize(ctx.principal, "usage.ingest");
  const spans = input.spans;
  const result: OtlpIngestResult = { accepted: 0, duplicates: 0, pending: 0, rejectedSpans: 0, errorMessage: "" };
  if (spans.length === 0) return result;
  const causes: string[] = [];
  const rejectSpan = (message: string) => {
    result.rejectedSpans++;
    if (causes.length < 3 && !causes.includes(message)) causes.push(message);
  };
  const key = (traceId: string, spanId: string) => `${traceId}:${spanId}`;
  const billable = new Map(spans.filter((s) => s.event).map((s) => [key(s.traceId, s.spanId), s]));
  const traces = [...new Set(spans.map((s) => s.traceId))].sort();

  const os = otelSpans;
  const op = otelPendingSpans;
  await ctx.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('otel:' || t.v)) from jsonb_array_elements_text(${JSON.stringify(traces)}::jsonb) as t(v) order by t.v`);
    const skeleton = JSON.stringify(spans.map((s) => ({ t: s.traceId, s: s.spanId, p: s.parentSpanId || null, a: s.agentRef })));
    // The request's spans remembered and the spans of its traces still waiting for an agent read,
    // in one statement (the waiting spans are the request's trace ids' earlier ones: the insert's
    // rows are not visible to it, and need not be).
    const waiting = await rows<{ trace_id: string; span_id: string; event: string }>(
      tx,
      sql`
        with remembered as (
          insert into ${os} (${names([os.traceId, os.spanId, os.parentSpanId, os.agentRef])})
          select distinct on (x.t, x.s) x.t, x.s, x.p, x.a from jsonb_to_recordset(${skeleton}::jsonb) as x(t text, s text, p text, a text)
          order by x.t, x.s
          on conflict do nothing
        )
        select ${op.traceId} as trace_id, ${op.spanId} as span_id, ${op.event} as event from ${op}
        where ${op.traceId} in (select jsonb_array_elements_text(${JSON.stringify(traces)}::jsonb))`,
    );
    // A span that names its agent itself needs no walk up its trace (the usual chat span of an instrumented agent).
    const targets = [...billable.values()]
      .filter((s) => !s.agentRef)
      .map((s) => ({ t: s.traceId, s: s.spanId }))
      .concat(waiting.map((w) => ({ t: w.trace_id, s: w.span_id })));
    const s0 = alias(otelSpans, "s0");
    const p0 = alias(otelSpans, "p0");
    const resolved = targets.length === 0 ? [] : await rows<Resolution>(
      tx,
      sql`
        with recursive targets as (
          select distinct x.t, x.s from jsonb_to_recordset(${JSON.stringify(targets)}::jsonb) as x(t text, s text)
        ),
        walk as (
          select x.t, x.s as target, ${s0.spanId} as span_id, ${s0.parentSpanId} as parent_span_id, ${s0.agentRef} as agent_ref, 0 as depth
          from targets x join ${otelSpans} ${s0} on ${s0.traceId} = x.t and ${s0.spanId} = x.s
          union all
          select w.t, w.target, ${p0.spanId}, ${p0.parentSpanId}, ${p0.agentRef}, w.depth + 1
          from walk w join ${otelSpans} ${p0} on ${p0.traceId} = w.t and ${p0.spanId} = w.parent_span_id
          where w.agent_ref is null and w.depth < ${MAX_SPAN_DEPTH}
        )
        select distinct on (w.t, w.target) w.t as trace_id, w.target as span_id, w.agent_ref, w.parent_span_id, true as found
        from walk w order by w.t, w.target, w.depth desc`,
    );
    const byTarget = new Map(resolved.map((r) => [key(r.trace_id, r.span_id), r]));
    const events: Record<string, unknown>[] = [];
    const eventSpans: { key: string; fromRequest: boolean }[] = [];
    const stillWaiting: { t: string; s: string; e: string }[] = [];
    const billEvent = (event: BillableEvent, agentRef: string, k: string, fromRequest: boolean) => {
      events.push({ ...event, agent_external_id: agentRef, model: event.model ?? "", occurred_at: event.occurred_at || undefined });
      eventSpans.push({ key: k, fromRequest });
    };
    for (const [k, span] of billable) {
      const r = byTarget.get(k);
      const ref = span.agentRef ?? r?.agent_ref ?? null;
      if (ref) billEvent(span.event!, ref, k, true);
      else if (span.resourceAgentRef) billEvent(span.event!, span.resourceAgentRef, k, true);
      else if (r && r.parent_span_id === null) rejectSpan(`span ${span.spanId}: no gen_ai.agent.id on it or any ancestor, and no orgdesk.agent.id on its resource`);
      else {
        stillWaiting.push({ t: span.traceId, s: span.spanId, e: JSON.stringify(span.event) });
        result.pending++;
      }
    }
    for (const w of waiting) {
      const k = key(w.trace_id, w.span_id);
      if (billable.has(k)) continue; // re-sent in this request: decided above
      const ref = byTarget.get(k)?.agent_ref;
      if (ref) billEvent(JSON.parse(w.event) as BillableEvent, ref, k, false);
    }
    if (stillWaiting.length > 0) {
      await tx.execute(sql`
        insert into ${op} (${names([op.traceId, op.spanId, op.event])})
        select x.t, x.s, x.e from jsonb_to_recordset(${JSON.stringify(stillWaiting)}::jsonb) as x(t text, s text, e text)
        order by x.t, x.s
        on conflict do nothing`);
    }
    if (events.length === 0) return;
    // The same ingestion as every source, in this transaction: the spans' bookkeeping and their
    // billing commit together, or neither does (the exporter then retries the request).
    const ingested = await ingest({ ctx: { ...ctx, db: tx }, input: { events }, source: "otlp", stats: false });
    const refused = new Map(ingested.rejected.map((r) => [r.index, r]));
    const released: { t: string; s: string }[] = [];
    eventSpans.forEach((span, index) => {
      const rejection = refused.get(index);
      if (rejection) {
        // A waiting span whose ancestor names an agent it may not bill stays waiting (and becomes unattributed).
        if (span.fromRequest) rejectSpan(rejection.message);
      } else if (!span.fromRequest) {
        const [t, s] = span.key.split(":");
        released.push({ t: t!, s: s! });
      }
    });
    result.accepted = ingested.accepted;
    result.duplicates = ingested.duplicates;
    if (released.length > 0) {
      await tx.execute(sql`
        delete from ${op} where (${op.traceId}, ${op.spanId}) in (select x.t, x.s from jsonb_to_recordset(${JSON.stringify(released)}::jsonb) as x(t text, s text))`);
    }
  });
  result.errorMessage = result.rejectedSpans > 0 ? `${result.rejectedSpans} span(s) rejected: ${causes.join("; ")}` : "";
  await recordIngestion(ctx.db, "otlp", { accepted: result.accepted, duplicates: result.duplicates, rejected: result.rejectedSpans });
  return result;
}

/** How many rows of one source's statistics concurrent writers are spread over (docs/integrations.md, "Integrations page"). */
const STATS_SHARDS = 8;

/**
 * Adds one request's or batch's counts to `source`'s statistics of the current UTC hour and marks
 * it received now: one upsert of one row, so call it once per request or batch, as the last
 * statement of a transaction when inside one (its row lock is then held only until the commit and
 * never waited for while holding it). The shard is the database session's, so concurrent writers
 * of one source rarely share a row.
 *
 * Every caller runs it after its batch has committed: a failure here (the database unreachable for
 * a moment, a lock timeout) is logged and loses these counts only — statistics, never billing — and
 * never turns a stored batch into an error its client would retry (docs/decisions.md).
 */
export async function recordIngestion(db: DbOrTx, source: IngestionSource, counts: IngestionCounts): Promise<void> {
  try {
    await upsertIngestionStats(db, source, counts);
  } catch (err) {
    // The database's own error (Drizzle's message carries the statement and its parameters).
    const cause = ((err as { cause?: unknown })?.cause ?? err) as { message?: string; code?: string };
    log.warn("ingestion statistics not recorded", { source, ...counts, code: cause?.code, error: String(cause?.message ?? cause).slice(0, 200) });
  }
}

async function upsertIngestionStats(db: DbOrTx, source: IngestionSource, counts: IngestionCounts): Promise<void> {
  const st = ingestionStats;
  await db.execute(sql`
    insert into ${st} (${names([st.source, st.hour, st.shard, st.accepted, st.duplicates, st.rejected, st.lastReceivedAt])})
    values (${source}, date_trunc('hour', now() at time zone 'UTC') at time zone 'UTC', pg_backend_pid() % ${STATS_SHARDS},
            ${counts.accepted}, ${counts.duplicates}, ${counts.rejected}, now())
    on conflict (${names([st.source, st.hour, st.shard])}) do update set
      ${name(st.accepted)} = ${st.accepted} + excluded.${name(st.accepted)},
      ${name(st.duplicates)} = ${st.duplicates} + excluded.${name(st.duplicates)},
      ${name(st.rejected)} = ${st.rejected} + excluded.${name(st.rejected)},
      ${name(st.lastReceivedAt)} = greatest(${st.lastReceivedAt}, excluded.${name(st.lastReceivedAt)})`);
}

/** Billable OpenTelemetry spans that waited longer than the attribution window for an ancestor naming their agent. */
export async function unattributedSpans({ ctx }: { ctx: Ctx }): Promise<number> {
  authorize(ctx.principal, "integrations.read");
  const cutoff = new Date(Date.now() - OTEL_ATTRIBUTION_WINDOW_MS).toISOString();
  const [row] = await rows<{ n: string }>(ctx.db, sql`select count(*)::text as n from ${otelPendingSpans} where ${otelPendingSpans.receivedAt} < ${cutoff}::timestamptz`);
  return Number(row!.n);
}

/**
 * One statement for the whole batch, whatever relation carries it (`input`: a query whose columns
 * are `idx` and the INPUT columns — the JSON parameter of `jsonInput`, or the bulk import's staging
 * table): resolve agent, organization and price for every item, insert
 * the attributable ones in id order (registering the id first, ON CONFLICT DO NOTHING keeps the first), append the
 * inserted rows' sums per monthly rollup key to usage_month_deltas, and report per item.
 */
function ingestStatement(input: SQL, tenant: string | null): SQL {
  const i = (column: AnyPgColumn) => at("i", column);
  const ag = alias(agents, "ag");
  const asg = alias(agentAssignments, "asg");
  const inserted = [ue.id, ue.agentId, ue.orgId, ue.model, ue.provider, ue.inputTokens, ue.outputTokens, ue.cacheReadTokens, ue.cacheWriteTokens];
  const ins = (column: AnyPgColumn) => at("ins", column);
  const sums = [ue.inputTokens, ue.outputTokens, ue.cacheReadTokens, ue.cacheWriteTokens].map((c) => sql`sum(${ins(c)})`);
  const month = sql`date_trunc('month', ${ins(ue.occurredAt)} at time zone 'UTC')::date`;
  return sql`
    with input as (
      ${input}
    ),
    day_prices as (
      -- One price lookup per model and UTC day of the batch, not one per event (docs/benchmarks.md, B4).
      select k.*, p.*
      from (select distinct ${i(ue.model)}, ${utcDay(i(ue.occurredAt))} as day from input i) k
      ${priceLateral(at("k", ue.model), sql`k.day`)}
    ),
    resolved as (
      -- An organization-bound caller sees only agents that are, or were at occurred_at, in its organization.
      select i.*, ${asg.orgId},
             (${ag.id} is not null and (${tenant}::uuid is null or ${ag.orgId} = ${tenant}::uuid or ${asg.orgId} = ${tenant}::uuid)) as agent_visible,
             (${asg.orgId} is not null and (${tenant}::uuid is null or ${asg.orgId} = ${tenant}::uuid)) as attributable,
             coalesce(${i(ue.costUsd)}, ${pricedCost("i")}) as cost
      from input i
      left join ${agents} ${ag} on ${ag.id} = ${i(ue.agentId)}
      left join ${agentAssignments} ${asg}
        on ${asg.agentId} = ${i(ue.agentId)} and ${asg.startsAt} <= ${i(ue.occurredAt)} and (${asg.endsAt} is null or ${asg.endsAt} > ${i(ue.occurredAt)})
      left join day_prices p on ${at("p", ue.model)} = ${i(ue.model)} and p.day = ${utcDay(i(ue.occurredAt))}
    ),
    registered as (
      -- An id is unique on its own, across the monthly partitions (usage_event_ids): only a new one is stored.
      insert into ${usageEventIds} (${names([usageEventIds.id, usageEventIds.occurredAt])})
      select ${names([ue.id, ue.occurredAt])} from resolved where attributable
      order by ${name(ue.id)}
      on conflict (${name(usageEventIds.id)}) do nothing
      returning ${name(usageEventIds.id)}
    ),
    ins as (
      insert into ${ue} (${names(inserted)}, ${name(ue.costUsd)}, ${name(ue.costFromEvent)}, ${name(ue.occurredAt)}, ${name(ue.contentHash)})
      select ${names(inserted)}, cost, ${name(ue.costUsd)} is not null, ${name(ue.occurredAt)}, ${name(ue.contentHash)}
      from resolved where attributable and ${name(ue.id)} in (select ${name(usageEventIds.id)} from registered)
      order by ${name(ue.id)}
      returning ${names([ue.id, ue.orgId, ue.agentId, ue.model, ue.occurredAt, ue.inputTokens, ue.outputTokens, ue.cacheReadTokens, ue.cacheWriteTokens, ue.costUsd])}
    ),
    rolled as (
      -- Appended, not upserted: no row lock for a concurrent batch to wait on; usage.fold moves
      -- the deltas into the rollups (docs/scaling.md, "Rollup deltas").
      insert into ${usageMonthDeltas} (${names([ur.orgId, ur.agentId, ur.model, ur.month, ur.events, ur.unpricedEvents, ur.inputTokens, ur.outputTokens, ur.cacheReadTokens, ur.cacheWriteTokens, ur.costUsd])})
      select ${ins(ue.orgId)}, ${ins(ue.agentId)}, ${ins(ue.model)}, ${month}, count(*), count(*) filter (where ${ins(ue.costUsd)} is null),
             ${sql.join(sums, sql`, `)}, coalesce(sum(${ins(ue.costUsd)}), 0)
      from ins
      group by 1, 2, 3, 4
      returning 1
    )
    select r.idx, r.agent_visible, (${at("r", asg.orgId)} is not null) as has_org, r.attributable, ${at("r", asg.orgId)}::text as org,
           (${ins(ue.id)} is not null) as inserted, (${ins(ue.id)} is not null and ${ins(ue.costUsd)} is null) as unpriced
    from resolved r left join ins on ${ins(ue.id)} = ${at("r", ue.id)}`;
}

/**
 * Re-prices the events matching `where` (written against the events alias) that are priced from
 * the table (events that carried their own cost keep it), and moves the cost differences into the
 * rollups, in one statement. The caller holds the exclusive pricing lock. Returns how many were
 * examined, changed, and are still unpriced.
 */
export async function repriceWhere(tx: DbOrTx, where: (events: EventsAlias) => SQL): Promise<{ examined: number; changed: number; unpriced: number }> {
  const u = alias(usageEvents, "u");
  const t = (column: AnyPgColumn) => at("t", column);
  const d = (column: AnyPgColumn) => at("d", column);
  const key = [ue.orgId, ue.agentId, ue.model];
  const [result] = await rows<{ examined: string; changed: string; unpriced: string; touched: { orgId: string; agentId: string; month: string }[] }>(
    tx,
    sql`
      with target as (
        select ${e.id}, ${e.orgId}, ${e.agentId}, ${e.model}, date_trunc('month', ${e.occurredAt} at time zone 'UTC')::date as ${name(ur.month)},
               ${e.costUsd} as old_cost, ${pricedCost("e")} as new_cost
        from ${usageEvents} ${e}
        ${priceLateral(sql`${e.model}`, utcDay(sql`${e.occurredAt}`))}
        where not ${e.costFromEvent} and (${where(e)})
        order by ${e.id}
        for update of ${e}
      ),
      changed as (
        update ${usageEvents} ${u} set ${name(ue.costUsd)} = t.new_cost
        from target t
        where ${u.id} = ${t(ue.id)} and t.new_cost is distinct from t.old_cost
        returning ${sql.join([...key, ur.month].map(t), sql`, `)}, t.old_cost, t.new_cost
      ),
      deltas as (
        select ${names([...key, ur.month])},
               count(*) filter (where new_cost is null) - count(*) filter (where old_cost is null) as unpriced_delta,
               coalesce(sum(new_cost), 0) - coalesce(sum(old_cost), 0) as cost_delta
        from changed
        group by 1, 2, 3, 4
      ),
      rolled as (
        -- The differences are appended as rollup deltas like ingestion's (folded by usage.fold); the
        -- key's earlier deltas were committed before these events could be read, so a fold never
        -- meets this one without them.
        insert into ${usageMonthDeltas} (${names([ur.orgId, ur.agentId, ur.model, ur.month, ur.events, ur.unpricedEvents, ur.inputTokens, ur.outputTokens, ur.cacheReadTokens, ur.cacheWriteTokens, ur.costUsd])})
        select ${d(ue.orgId)}, ${d(ue.agentId)}, ${d(ue.model)}, ${d(ur.month)}, 0, d.unpriced_delta, 0, 0, 0, 0, d.cost_delta
        from deltas d
        returning 1
      )
      select (select count(*) from target)::text as examined,
             (select count(*) from changed)::text as changed,
             (select count(*) from target where new_cost is null)::text as unpriced,
             (select coalesce(jsonb_agg(distinct jsonb_build_object('orgId', ${name(ue.orgId)}::text, 'agentId', ${name(ue.agentId)}::text, 'month', to_char(${name(ur.month)}, 'YYYY-MM'))), '[]'::jsonb) from deltas) as touched`,
  );
  // Spend (and usage charges) moved: the budgets concerned are evaluated again (docs/guardrails.md).
  await budgets.queueEvaluations(tx, typeof result!.touched === "string" ? JSON.parse(result!.touched) : result!.touched);
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
    const result = await repriceWhere(
      tx,
      (e) => sql`${e.occurredAt} >= ${from}::timestamptz and ${e.occurredAt} < ${toExclusive}::timestamptz ${input.model ? sql`and ${eventsOfModels(e, [input.model])}` : sql``}`,
    );
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

/** SQL condition for events (`e`) of any of `models`, their dated snapshots included. */
export function eventsOfModels(e: EventsAlias, models: string[]): SQL {
  const list = sql.join(
    models.map((m) => sql`${m}`),
    sql`, `,
  );
  return sql`(${e.model} in (${list}) or regexp_replace(${e.model}, ${SNAPSHOT_SUFFIX}, '') in (${list}))`;
}

/** Serialises folds across instances (a second fold meanwhile has nothing to do). */
const FOLD_LOCK = 7426_3316;

/**
 * Moves every committed rollup delta into usage_month_rollups, in one statement: the deltas it
 * deletes are the ones it adds, so `usage_month_totals` reads the same sums before and after.
 * Deltas of batches not yet committed are invisible here and wait for the next fold. Every delta
 * visible is folded at once, so a re-pricing delta is never folded without the ingestion deltas
 * committed before it (the rollups' counts check holds at every fold). Returns the deltas folded,
 * or null when another fold was running.
 */
export async function foldRollups(db: DbOrTx): Promise<number | null> {
  const columns = [ur.orgId, ur.agentId, ur.model, ur.month, ur.events, ur.unpricedEvents, ur.inputTokens, ur.outputTokens, ur.cacheReadTokens, ur.cacheWriteTokens, ur.costUsd];
  const summed = columns.slice(4).map((c) => sql`sum(${name(c)}) as ${name(c)}`);
  const added = columns.slice(4).map((c) => sql`${name(c)} = ${c} + s.${name(c)}`);
  const sameKey = (a: SQL, b: SQL) => sql.join([ur.orgId, ur.agentId, ur.model, ur.month].map((c) => sql`${a}.${name(c)} = ${b}.${name(c)}`), sql` and `);
  return db.transaction(async (tx) => {
    const [lock] = await rows<{ ok: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${FOLD_LOCK}) as ok`);
    if (!lock!.ok) return null;
    // Existing keys are updated and only new keys inserted (no ON CONFLICT: its proposed row would
    // be checked on its own, and a re-pricing delta alone has negative unpriced events). The fold
    // is the only writer of rollup rows, under FOLD_LOCK, so no other transaction inserts a key meanwhile.
    const [result] = await rows<{ n: string }>(
      tx,
      sql`with moved as (
            delete from ${usageMonthDeltas} returning *
          ),
          sums as (
            select ${names(columns.slice(0, 4))}, ${sql.join(summed, sql`, `)}
            from moved
            group by 1, 2, 3, 4
          ),
          updated as (
            update ${ur} set ${sql.join(added, sql`, `)}
            from sums s
            where ${sameKey(sql`s`, sql`${ur}`)}
            returning ${sql.join(columns.slice(0, 4).map((c) => sql`${ur}.${name(c)}`), sql`, `)}
          ),
          inserted as (
            insert into ${ur} (${names(columns)})
            select * from sums s where not exists (select 1 from updated u where ${sameKey(sql`u`, sql`s`)})
            order by 1, 2, 3, 4
            returning 1
          )
          select (select count(*) from moved)::text as n, (select count(*) from inserted) as keys`,
    );
    return Number(result!.n);
  });
}
