import { openDatabase } from "../db/client";
import { createApp } from "./app";
import { loadConfig } from "./config";
import { ensureFirstOwner } from "./modules/auth/service";
import * as reads from "./modules/reads/service";
import { configureLogging, log } from "./observability/log";
import { createMetrics } from "./observability/metrics";

/**
 * Entry point: read the environment, open and migrate the database, serve HTTP. Exported so the
 * demo script and tests start the very same server.
 */
export async function startServer(overrides: Partial<ReturnType<typeof loadConfig>> = {}) {
  const config = { ...loadConfig(), ...overrides };
  configureLogging({ level: config.logLevel, secrets: [config.adminApiKey, config.metricsToken, config.adminPassword] });
  const database = await openDatabase(config);
  const firstOwner = await ensureFirstOwner(database, config);
  if (firstOwner === "created") log.info(`Created the first owner ${config.adminEmail} from ADMIN_EMAIL`);
  if (firstOwner === "not-configured") log.info("No user exists yet: open the web app to create the first owner (or set ADMIN_EMAIL and ADMIN_PASSWORD)");
  const metrics = createMetrics(database);
  const replica = database.replica;
  if (replica) metrics.observeReplica(() => reads.replicaStatus(replica));
  const app = createApp({ database, config, metrics });
  const server = Bun.serve({
    port: config.port,
    hostname: process.env.HOST || "0.0.0.0",
    fetch: (req, srv) => app.fetch(req, { server: srv }),
    // A connection silent this long is closed: a stalled or slow client cannot hold it forever.
    idleTimeout: config.idleTimeoutSeconds,
  });
  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (up to the grace period,
   * then close what is left), and only then close the database pool they use.
   */
  const stop = async () => {
    const finished = server.stop().then(() => true);
    const grace = Bun.sleep(config.shutdownGraceSeconds * 1000).then(() => false);
    if (!(await Promise.race([finished, grace]))) {
      log.warn(`Requests still running after ${config.shutdownGraceSeconds} s; closing them`);
      await server.stop(true);
    }
    await database.close();
  };
  return { server, database, config, app, metrics, stop, url: `http://localhost:${server.port}` };
}

if (import.meta.main) {
  const { url, stop, database, config } = await startServer();
  const where = database.driver === "pglite" ? `embedded PGlite in ${config.dataDir}` : `PostgreSQL${database.replica ? " with a read replica" : ""}`;
  log.lifecycle(`Orgdesk listening on ${url} (database: ${where})`);
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
