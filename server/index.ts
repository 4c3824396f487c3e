import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { openDatabase } from "../db/client";
import { createApp } from "./app";
import { embeddedSecretsKey } from "./auth/secret-box";
import { loadConfig } from "./config";
import { startJobRunner } from "./jobs/runner";
import { ensureFirstOwner } from "./modules/auth/service";

/**
 * Entry point: read the environment, open and migrate the database, serve HTTP. Exported so the
 * demo script and tests start the very same server.
 */
export async function startServer(overrides: Partial<ReturnType<typeof loadConfig>> = {}) {
  const config = { ...loadConfig(), ...overrides };
  const database = await openDatabase(config);
  // The embedded database keeps its own key beside its data; PostgreSQL instances share SECRETS_KEY.
  if (!config.secretsKey && database.driver === "pglite") config.secretsKey = embeddedSecretsKey(config.dataDir);
  if (!config.secretsKey) console.log("SECRETS_KEY is not set: webhook endpoints cannot be created until it is (README: Configuration)");
  const firstOwner = await ensureFirstOwner(database, config);
  const app = createApp({ database, config });
  const server = Bun.serve({
    port: config.port,
    hostname: process.env.HOST || "0.0.0.0",
    fetch: (req, srv) => app.fetch(req, { server: srv }),
    // A connection silent this long is closed: a stalled or slow client cannot hold it forever.
    idleTimeout: config.idleTimeoutSeconds,
  });
  // Background work (webhook deliveries, periodic jobs): any instance may claim any job.
  const jobs = config.jobsEnabled ? startJobRunner({ database, config }) : null;
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
      console.log(`Requests still running after ${config.shutdownGraceSeconds} s; closing them`);
      await server.stop(true);
    }
    await jobsStopped;
    await database.close();
  };
  return { server, database, config, app, jobs, stop, firstOwner, url: `http://localhost:${server.port}` };
}

/**
 * Serves until SIGINT/SIGTERM, saying where: the address, the database, the web console (or that
 * there is none) and how the first owner is created. `bun run start` builds the console first.
 */
export async function main() {
  const { url, stop, database, config, firstOwner } = await startServer();
  const web = config.webDir && existsSync(join(config.webDir, "index.html")) ? config.webDir : undefined;
  console.log(`Orgdesk listening on ${url} (database: ${database.driver === "pglite" ? `embedded PGlite in ${config.dataDir}` : "PostgreSQL"})`);
  console.log(web ? `Web console: ${url}/ (from ${relative(process.cwd(), web) || "."})` : "No web console: serving the API only (`bun run start` builds it; WEB_DIR names a built one)");
  if (firstOwner === "created") console.log(`Created the first owner ${config.adminEmail} from ADMIN_EMAIL`);
  if (firstOwner === "not-configured") {
    console.log(
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
      console.log(`${signal}: finishing in-flight requests…`);
      await stop();
      process.exit(0);
    });
  }
}

if (import.meta.main) await main();
