import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { type DbOrTx, rows } from "../../../db/client";
import { agents, ingestionStats, otelPendingSpans, otelSpans } from "../../../db/schema";
import { authorize } from "../../auth/policy";
import type { Ctx } from "../../context";
import { AppError, invalidField } from "../../errors";
import * as audit from "../audit/service";
import * as usage from "../usage/service";
import { type attributeSpansInput, INGESTION_SOURCES, type IntegrationsOverview } from "./schema";
import type { z } from "zod";

/**
 * The Integrations page (docs/integrations.md, "Integrations page"): per source, the last request
 * received and the counts of the last 24 hours, summed over the shards of `ingestion_stats`; the
 * unattributed OpenTelemetry spans and their traces; this server's public address.
 */
export async function overview({ ctx }: { ctx: Ctx }): Promise<IntegrationsOverview> {
  authorize(ctx.principal, "integrations.read");
  const st = ingestionStats;
  const stats = await rows<{ source: string; last: string | null; accepted: string; duplicates: string; rejected: string }>(
    ctx.db,
    sql`select ${st.source} as source,
               to_char(max(${st.lastReceivedAt}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as last,
               coalesce(sum(${st.accepted}) filter (where ${st.hour} >= ${dayStart}), 0)::text as accepted,
               coalesce(sum(${st.duplicates}) filter (where ${st.hour} >= ${dayStart}), 0)::text as duplicates,
               coalesce(sum(${st.rejected}) filter (where ${st.hour} >= ${dayStart}), 0)::text as rejected
        from ${st} group by ${st.source}`,
  );
  const bySource = new Map(stats.map((s) => [s.source, s]));
  const op = otelPendingSpans;
  const cutoff = new Date(Date.now() - usage.OTEL_ATTRIBUTION_WINDOW_MS).toISOString();
  const event = (field: string) => sql`(${op.event}::jsonb ->> ${field})`;
  const [total] = await rows<{ n: string }>(ctx.db, sql`select count(*)::text as n from ${op} where ${op.receivedAt} < ${cutoff}::timestamptz`);
  const traces = await rows<{ trace_id: string; spans: string; span_ids: string; models: string; input_tokens: string; output_tokens: string; first: string }>(
    ctx.db,
    sql`select ${op.traceId} as trace_id, count(*)::text as spans,
               to_jsonb((array_agg(${op.spanId} order by ${op.spanId}))[1:100])::text as span_ids,
               to_jsonb(array_remove(array_agg(distinct ${event("model")}), null))::text as models,
               coalesce(sum(${event("input_tokens")}::bigint), 0)::text as input_tokens,
               coalesce(sum(${event("output_tokens")}::bigint), 0)::text as output_tokens,
               to_char(min(${op.receivedAt}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as first
        from ${op} where ${op.receivedAt} < ${cutoff}::timestamptz
        group by ${op.traceId} order by min(${op.receivedAt}), ${op.traceId} limit 50`,
  );
  return {
    base_url: ctx.config.publicUrl ?? ctx.origin ?? `http://localhost:${ctx.config.port}`,
    sources: INGESTION_SOURCES.map((source) => {
      const s = bySource.get(source);
      return {
        source,
        last_received_at: s?.last ?? null,
        accepted: Number(s?.accepted ?? 0),
        duplicates: Number(s?.duplicates ?? 0),
        rejected: Number(s?.rejected ?? 0),
      };
    }),
    unattributed: {
      spans: Number(total!.n),
      traces: traces.map((t) => ({
        trace_id: t.trace_id,
        spans: Number(t.spans),
        span_ids: JSON.parse(t.span_ids) as string[],
        models: JSON.parse(t.models) as string[],
        input_tokens: Number(t.input_tokens),
        output_tokens: Number(t.output_tokens),
        first_received_at: t.first,
      })),
    },
  };
}

/** The first hour of "the last 24 hours": the current UTC hour and the 23 before it. */
const dayStart = sql`(date_trunc('hour', now() at time zone 'UTC') at time zone 'UTC' - interval '23 hours')`;

/**
 * Staff attribution of unattributed OpenTelemetry spans (docs/integrations.md, "Unattributed
 * spans"): the trace's unattributed spans (or the named ones) bill `agent_id` through the normal
 * ingestion — the organization the agent was in at the span's time, closed months, prices, the
 * event id `otel:<trace>:<span>` — and stop waiting, in one transaction with the trace locked like
 * an export of it, so an ancestor arriving at the same moment cannot bill them too. A span the
 * ingestion refuses (the agent did not exist yet, its id was billed with other content) keeps
 * waiting and is reported. One audit entry names the trace, the spans and the agent.
 */
export async function attributeSpans({ ctx, input }: { ctx: Ctx; input: z.infer<typeof attributeSpansInput> }) {
  authorize(ctx.principal, "usage.attribute");
  const op = otelPendingSpans;
  const cutoff = new Date(Date.now() - usage.OTEL_ATTRIBUTION_WINDOW_MS).toISOString();
  return ctx.db.transaction(async (tx) => {
    const [agent] = await rows<{ id: string }>(tx, sql`select ${agents.id}::text as id from ${agents} where ${agents.id} = ${input.agent_id.toLowerCase()}::uuid`);
    if (!agent) throw invalidField("agent_id", `no agent ${input.agent_id}`);
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('otel:' || ${input.trace_id}))`);
    const wanted = input.span_ids ? [...new Set(input.span_ids)] : null;
    const waiting = await rows<{ span_id: string; event: string }>(
      tx,
      sql`select ${op.spanId} as span_id, ${op.event} as event from ${op}
          where ${op.traceId} = ${input.trace_id} and ${op.receivedAt} < ${cutoff}::timestamptz
          ${wanted ? sql`and ${op.spanId} in (select jsonb_array_elements_text(${JSON.stringify(wanted)}::jsonb))` : sql``}
          order by ${op.spanId}`,
    );
    if (waiting.length === 0) throw new AppError("NOT_FOUND", `Trace ${input.trace_id} has no unattributed spans${wanted ? " with these ids" : ""}`);
    if (wanted && waiting.length < wanted.length) {
      const found = new Set(waiting.map((w) => w.span_id));
      const missing = wanted.filter((s) => !found.has(s));
      throw new AppError("NOT_FOUND", `Span ${missing[0]} is not an unattributed span of trace ${input.trace_id}`);
    }
    const events = waiting.map((w) => {
      const event = JSON.parse(w.event) as Record<string, unknown>;
      return { ...event, agent_id: agent.id, model: event.model ?? "", occurred_at: event.occurred_at || undefined };
    });
    const ingested = await usage.ingest({ ctx: { ...ctx, db: tx }, input: { events }, source: "otlp", stats: false, audited: false });
    const refused = new Map(ingested.rejected.map((r) => [r.index, r]));
    const billed = waiting.filter((_, index) => !refused.has(index)).map((w) => w.span_id);
    if (billed.length > 0) {
      await tx.execute(sql`delete from ${op} where ${op.traceId} = ${input.trace_id} and ${op.spanId} in (select jsonb_array_elements_text(${JSON.stringify(billed)}::jsonb))`);
    }
    const rejected = ingested.rejected.map((r) => ({ span_id: waiting[r.index]!.span_id, code: r.code, message: r.message }));
    const [left] = await rows<{ n: string }>(tx, sql`select count(*)::text as n from ${op} where ${op.traceId} = ${input.trace_id} and ${op.receivedAt} < ${cutoff}::timestamptz`);
    const result = { trace_id: input.trace_id, agent_id: agent.id, accepted: ingested.accepted, duplicates: ingested.duplicates, rejected, remaining: Number(left!.n) };
    await audit.record(tx, ctx, {
      action: "usage.attribute",
      orgId: null,
      targetType: "otel_trace",
      targetId: input.trace_id,
      after: { agent_id: agent.id, span_ids: waiting.map((w) => w.span_id), accepted: result.accepted, duplicates: result.duplicates, rejected: rejected.length },
    });
    return result;
  });
}

/** Statistics older than this are deleted (the page shows 24 hours), except each source's newest hour. */
export const STATS_RETENTION_MS = 48 * 60 * 60 * 1000;
/** A trace's remembered spans are deleted this long after the last of them arrived (docs/integrations.md, "Housekeeping"). */
export const OTEL_SPAN_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Rows deleted per statement, so that a large backlog never holds locks for long. */
const PRUNE_CHUNK = 5000;

/**
 * Deletes ingestion statistics older than the retention, keeping each source's newest hour (its
 * last reception time stays known however long the source is silent). Returns the rows deleted.
 */
export async function pruneStats(db: DbOrTx, retentionMs = STATS_RETENTION_MS): Promise<number> {
  const st = ingestionStats;
  const newer = alias(ingestionStats, "newer");
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  const deleted = await rows<{ n: string }>(
    db,
    sql`with gone as (
          delete from ${st} where ${st.hour} < ${cutoff}::timestamptz
            and ${st.hour} < (select max(${newer.hour}) from ${st} ${newer} where ${newer.source} = ${st.source})
          returning 1)
        select count(*)::text as n from gone`,
  );
  return Number(deleted[0]!.n);
}

/**
 * Deletes the remembered spans (`otel_spans`) of traces that are finished with: no span of the
 * trace arrived within the retention, and none of its billable spans is still waiting for an
 * ancestor (a waiting span's chain must stay, or its ancestor arriving later could not find it).
 * In chunks; returns the rows deleted. A span of a pruned trace arriving later is attributed as if
 * its ancestors had never come: by its own agent id or its resource's, else it waits.
 */
export async function pruneOtelSpans(db: DbOrTx, retentionMs = OTEL_SPAN_RETENTION_MS): Promise<number> {
  const os = otelSpans;
  const s = alias(otelSpans, "s");
  const n = alias(otelSpans, "n");
  const p = alias(otelPendingSpans, "p");
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  let total = 0;
  for (;;) {
    const [r] = await rows<{ n: string }>(
      db,
      sql`with gone as (
            delete from ${os} where ctid in (
              select s.ctid from ${os} ${s}
              where ${s.receivedAt} < ${cutoff}::timestamptz
                and not exists (select 1 from ${os} ${n} where ${n.traceId} = ${s.traceId} and ${n.receivedAt} >= ${cutoff}::timestamptz)
                and not exists (select 1 from ${otelPendingSpans} ${p} where ${p.traceId} = ${s.traceId})
              limit ${PRUNE_CHUNK})
            returning 1)
          select count(*)::text as n from gone`,
    );
    const deleted = Number(r!.n);
    total += deleted;
    if (deleted < PRUNE_CHUNK) return total;
  }
}
