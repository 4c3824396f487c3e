import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Database, PoolStats } from "../../db/client";

/**
 * The Prometheus series of one server instance (docs/operations.md, Metrics), on a registry of its
 * own so that several apps in one process (tests) never mix their counts. Rendering is prom-client's.
 *
 * Other parts of the server report through the small functions below; they never create series.
 */

/** Where usage events came from: the JSON API today; `otlp`, `litellm`, `import` as they arrive. */
export type IngestionSource = "api" | "otlp" | "litellm" | "import";
export interface IngestionCounts {
  accepted: number;
  duplicates: number;
  rejected: number;
}

/** One kind of background job, as the job runner sees its queue at scrape time. */
export interface JobQueueStats {
  kind: string;
  /** Jobs due and not yet finished (waiting or running). */
  depth: number;
  /** Seconds since the oldest of them became due; 0 when the queue is empty. */
  lagSeconds: number;
}

/** The outcome of one webhook delivery attempt. */
export type WebhookResult = "delivered" | "failed" | "retry_scheduled" | "gave_up";

export interface ReplicaStatus {
  up: boolean;
  /** Seconds of replay behind the primary; null when unknown (replica down). */
  lagSeconds: number | null;
}

/** Why a report read went where it went (docs/scaling.md, Read replica). */
export type ReportRoute = "replica" | "no_replica" | "own_write" | "replica_lagging" | "replica_down";

export interface Metrics {
  registry: Registry;
  /** Prometheus text exposition of every series. */
  render(): Promise<string>;
  contentType: string;
  request(method: string, route: string, status: number, seconds: number): void;
  ingestion(source: IngestionSource, counts: IngestionCounts): void;
  /** Registers the function that reads the job queue at each scrape (once, at start). */
  observeJobQueue(read: () => Promise<JobQueueStats[]>): void;
  /** A background job run finished: `succeeded`, `failed` (will be retried) or `gave_up`. */
  jobRun(kind: string, result: "succeeded" | "failed" | "gave_up"): void;
  webhookDelivery(result: WebhookResult): void;
  /** Registers the function that tells the replica's state at each scrape. */
  observeReplica(read: () => Promise<ReplicaStatus>): void;
  reportRead(database: "primary" | "replica", reason: ReportRoute): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(database?: Pick<Database, "pool" | "replica">): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const requests = new Counter({ name: "orgdesk_http_requests_total", help: "HTTP requests by method, route template and status", labelNames: ["method", "route", "status"], registers });
  const latency = new Histogram({
    name: "orgdesk_http_request_duration_seconds",
    help: "HTTP request duration by method and route template, seconds",
    labelNames: ["method", "route"],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const pools = (): [string, PoolStats][] => [
    ...(database?.pool ? [["primary", database.pool] as [string, PoolStats]] : []),
    ...(database?.replica ? [["replica", database.replica.pool] as [string, PoolStats]] : []),
  ];
  const poolGauge = (name: string, help: string, value: (p: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["database"],
      registers,
      collect() {
        for (const [db, p] of pools()) this.set({ database: db }, value(p));
      },
    });
  poolGauge("orgdesk_db_pool_size", "Connections the instance's pool may open", (p) => p.size);
  poolGauge("orgdesk_db_queries_in_flight", "Statements handed to the pool outside transactions and not yet answered (running or waiting)", (p) => p.queriesInFlight);
  poolGauge("orgdesk_db_transactions_open", "Transactions open, each holding one pooled connection", (p) => p.transactionsOpen);
  poolGauge("orgdesk_db_pool_waiting_estimate", "Work beyond the pool size (open transactions plus statements in flight, minus the pool size): waits for a connection", (p) =>
    Math.max(0, p.transactionsOpen + p.queriesInFlight - p.size),
  );

  const ingested = new Counter({ name: "orgdesk_usage_events_total", help: "Usage events received, by source and outcome (accepted, duplicate, rejected)", labelNames: ["source", "outcome"], registers });

  // prom-client collects every series of a scrape at once; the depth gauge starts the one queue read
  // of the scrape and the lag gauge (registered after it, so collected after it starts) awaits it.
  let readQueue: (() => Promise<JobQueueStats[]>) | undefined;
  let queueRead: Promise<JobQueueStats[] | null> = Promise.resolve(null);
  new Gauge({
    name: "orgdesk_job_queue_depth",
    help: "Background jobs due and not finished, by kind",
    labelNames: ["kind"],
    registers,
    async collect() {
      queueRead = readQueue
        ? readQueue().catch(() => {
            scrapeErrors.inc({ series: "job_queue" });
            return null;
          })
        : Promise.resolve(null);
      const queue = await queueRead;
      if (!queue) return;
      this.reset();
      for (const q of queue) this.set({ kind: q.kind }, q.depth);
    },
  });
  new Gauge({
    name: "orgdesk_job_queue_lag_seconds",
    help: "Seconds since the oldest unfinished due job of each kind became due",
    labelNames: ["kind"],
    registers,
    async collect() {
      const queue = await queueRead;
      if (!queue) return;
      this.reset();
      for (const q of queue) this.set({ kind: q.kind }, q.lagSeconds);
    },
  });
  const scrapeErrors = new Counter({
    name: "orgdesk_metrics_collect_errors_total",
    help: "Series that could not be read during a scrape",
    labelNames: ["series"],
    registers,
    // After this scrape's queue read, so a failure shows in the scrape it happened in.
    async collect() {
      await queueRead;
    },
  });
  const jobRuns = new Counter({ name: "orgdesk_job_runs_total", help: "Background job runs by kind and result", labelNames: ["kind", "result"], registers });
  const webhooks = new Counter({ name: "orgdesk_webhook_deliveries_total", help: "Webhook delivery attempts by result", labelNames: ["result"], registers });

  // Created when a replica is configured: an absent series, not a 0, when there is none.
  const replicaGauges = (readReplica: () => Promise<ReplicaStatus>) => {
    let replicaRead: Promise<ReplicaStatus> = Promise.resolve({ up: false, lagSeconds: null });
    new Gauge({
      name: "orgdesk_db_replica_up",
      help: "1 when the read replica answers, 0 when not",
      registers,
      async collect() {
        replicaRead = readReplica().catch(() => ({ up: false, lagSeconds: null }));
        this.set((await replicaRead).up ? 1 : 0);
      },
    });
    new Gauge({
      name: "orgdesk_db_replica_lag_seconds",
      help: "How far the read replica's replay is behind the primary, seconds (NaN while it does not answer)",
      registers,
      async collect() {
        this.set((await replicaRead).lagSeconds ?? Number.NaN);
      },
    });
  };
  new Counter({
    name: "orgdesk_db_replica_failovers_total",
    help: "Statements the read replica failed (down, restarting, recovery conflict) that ran again on the primary",
    registers,
    collect() {
      if (!database?.replica) return;
      this.reset();
      this.inc(database.replica.failovers);
    },
  });
  const reportReads = new Counter({ name: "orgdesk_report_reads_total", help: "Report reads by the database that served them and why", labelNames: ["database", "reason"], registers });

  // A few process figures. prom-client's default set is not used: under Bun its event-loop and
  // heap-space series read NaN or zero (docs/decisions.md).
  const started = Date.now() / 1000;
  new Gauge({ name: "orgdesk_process_start_time_seconds", help: "Start time of the process, seconds since the epoch", registers, collect() { this.set(started); } });
  new Gauge({ name: "orgdesk_process_resident_memory_bytes", help: "Resident set size, bytes", registers, collect() { this.set(process.memoryUsage.rss()); } });
  new Gauge({ name: "orgdesk_process_heap_used_bytes", help: "JavaScript heap in use, bytes", registers, collect() { this.set(process.memoryUsage().heapUsed); } });

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    request(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route }, seconds);
    },
    ingestion(source, counts) {
      if (counts.accepted) ingested.inc({ source, outcome: "accepted" }, counts.accepted);
      if (counts.duplicates) ingested.inc({ source, outcome: "duplicate" }, counts.duplicates);
      if (counts.rejected) ingested.inc({ source, outcome: "rejected" }, counts.rejected);
    },
    observeJobQueue(read) {
      readQueue = read;
    },
    jobRun(kind, result) {
      jobRuns.inc({ kind, result });
    },
    webhookDelivery(result) {
      webhooks.inc({ result });
    },
    observeReplica(read) {
      replicaGauges(read);
    },
    reportRead(database, reason) {
      reportReads.inc({ database, reason });
    },
  };
}
