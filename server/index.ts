import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { openDatabase } from "../db/client";
import { createApp } from "./app";
import { embeddedSecretsKey } from "./auth/secret-box";
import { loadConfig } from "./config";
import { startJobRunner } from "./jobs/runner";
import { whyNoAutovacuum } from "./modules/maintenance/service";
import { queueStats } from "./jobs/service";
import { ensureFirstOwner } from "./modules/auth/service";
import * as reads from "./modules/reads/service";
import { configureLogging, log } from "./observability/log";
import { createMetrics } from "./observability/metrics";

/**
 * Entry point: read the environment, open and migrate the database, serve HTTP. Exported so the
 * demo script and tests start the very same server.
 */
export async function startServer(overrides: Partial<ReturnType<typeof loadConfig>> = {}, options: { deferJobs?: boolean } = {}) {
  const config = { ...loadConfig(), ...overrides };
  configureLogging({ level: config.logLevel, secrets: [config.adminApiKey, config.metricsToken, config.adminPassword] });
  const database = await openDatabase(config);
  // The embedded database keeps its own key beside its data; PostgreSQL instances share SECRETS_KEY.
  if (!config.secretsKey && database.driver === "pglite") config.secretsKey = embeddedSecretsKey(config.dataDir);
  if (!config.secretsKey) log.warn("SECRETS_KEY is not set: webhook endpoints cannot be created until it is (README: Configuration)");
  const firstOwner = await ensureFirstOwner(database, config);
  const metrics = createMetrics(database);
  const replica = database.replica;
  if (replica) metrics.observeReplica(() => reads.replicaStatus(replica));
  metrics.observeJobQueue(async () =>
    (await queueStats(database.db)).kinds.map((k) => ({ kind: k.kind, depth: k.due + k.running, lagSeconds: k.lag_seconds })),
  );
  const app = createApp({ database, config, metrics });
  const server = Bun.serve({
    port: config.port,
    hostname: process.env.HOST || "0.0.0.0",
    fetch: (req, srv) => app.fetch(req, { server: srv }),
    // A connection silent this long is closed: a stalled or slow client cannot hold it forever.
    idleTimeout: config.idleTimeoutSeconds,
    // Bodies are limited per route as they are read (MAX_BODY_BYTES; the bulk import streams any
    // length), not by Bun's default cap of 128 MB on every request.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  });
  // Background work (webhook deliveries, periodic jobs): any instance may claim any job. With
  // `deferJobs` it starts only when `startJobs` is called (the demo seeds its history first: the
  // automatic month close would otherwise close months the seeding still writes to).
  let jobs: ReturnType<typeof startJobRunner> | null = null;
  const startJobs = () => {
    if (config.jobsEnabled && !jobs) jobs = startJobRunner({ database, config, metrics });
    return jobs;
  };
  if (!options.deferJobs) startJobs();
  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (up to the grace period,
   * then close what is left), and only then close the database pool they use.
   */
  const stop = async () => {
    const finished = server.stop().then(() => true);
    const grace = Bun.sleep(config.shutdownGraceSeconds * 1000).then(() => false);
    // Runs in flight get the same grace; those cut short go back to the queue for any instance.
    const jobsStopped = jobs?.stop(config.shutdownGraceSeconds * 1000);
    if (!(await Promise.race([finished, grace]))) {
      log.warn(`Requests still running after ${config.shutdownGraceSeconds} s; closing them`);
      await server.stop(true);
    }
    await jobsStopped;
    await database.close();
  };
  return {
    server,
    database,
    config,
    app,
    /** The job runner, once started (null with JOBS_ENABLED=0, or until `startJobs` when deferred). */
    get jobs() {
      return jobs;
    },
    startJobs,
    metrics,
    stop,
    firstOwner,
    url: `http://localhost:${server.port}`,
  };
}

/**
 * Serves until SIGINT/SIGTERM, saying where: the address, the database, the web console (or that
 * there is none) and how the first owner is created. `bun run start` builds the console first.
 */
export async function main() {
  const { url, stop, database, config, firstOwner } = await startServer();
  const web = config.webDir && existsSync(join(config.webDir, "index.html")) ? config.webDir : undefined;
  const where = database.driver === "pglite" ? `embedded PGlite in ${config.dataDir}` : `PostgreSQL${database.replica ? " with a read replica" : ""}`;
  log.lifecycle(`Orgdesk listening on ${url} (database: ${where})`);
  log.lifecycle(web ? `Web console: ${url}/ (from ${relative(process.cwd(), web) || "."})` : "No web console: serving the API only (`bun run start` builds it; WEB_DIR names a built one)");
  const noAutovacuum = await whyNoAutovacuum(database.db).catch(() => null);
  if (noAutovacuum) {
    log.lifecycle(
      config.jobsEnabled
        ? `Vacuum: ${noAutovacuum}; Orgdesk vacuums its tables itself every minute where due (docs/operations.md, "Vacuum")`
        : `Vacuum: ${noAutovacuum}, and this instance runs no background jobs; another instance must, or run vacuum from cron (docs/operations.md, "Vacuum")`,
    );
  }
  if (firstOwner === "created") log.lifecycle(`Created the first owner ${config.adminEmail} from ADMIN_EMAIL`);
  if (firstOwner === "not-configured") {
    log.lifecycle(
      web
        ? `No user exists yet: open ${url}/ to create the first owner (or set ADMIN_EMAIL and ADMIN_PASSWORD)`
        : "No user exists yet: set ADMIN_EMAIL and ADMIN_PASSWORD to create the first owner, or serve the web console to create it there",
    );
  }
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      log.lifecycle(`${signal}: finishing in-flight requests…`);
      await stop();
      process.exit(0);
    });
  }
}

if (import.meta.main) await main();
