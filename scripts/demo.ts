/**
 * `bun run demo`: builds the web app if needed, starts Orgdesk on the embedded database in
 * DATA_DIR (default ./data/demo), seeds demo data once, and prints where to go.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { platformKeyPrincipal } from "./support/principal";
import { isSeeded, seedDemo } from "../server/demo/seed";
import { seedDemoUsage } from "../server/demo/usage";
import { startServer } from "../server/index";
import { buildWebApp, webBuildState } from "./web-build";

const root = join(import.meta.dir, "..");
process.env.DATA_DIR ||= join(root, "data", "demo");
process.env.ADMIN_API_KEY ||= "demo-admin-key";
process.env.ADMIN_EMAIL ||= "owner@orgdesk.demo";
process.env.ADMIN_PASSWORD ||= "orgdesk-demo";
// The demo terminal shows how to sign in; request log lines (LOG_LEVEL=info) would bury it.
process.env.LOG_LEVEL ||= "warn";
delete process.env.DATABASE_URL;

// The demo is for trying the current sources: a build older than them is rebuilt too.
if (webBuildState() !== "fresh" && existsSync(join(root, "web", "src"))) {
  console.log("Building the web app (about a minute)…");
  try {
    buildWebApp();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}

// Background jobs start once the history is seeded: the automatic month close would otherwise
// finalize past months while the seeding still backdates moves, rates and usage into them.
const { url, database, config, stop, startJobs } = await startServer({}, { deferJobs: true });
const ctx = { db: database.db, database, config, principal: platformKeyPrincipal, requestId: "demo-seed", ip: "127.0.0.1" };
if (!(await isSeeded(ctx))) {
  console.log("Seeding demo data (organizations, agents, a year of history)…");
  const summary = await seedDemo(ctx);
  console.log(`  ${summary.organizations} organizations, ${summary.agents} agents, ${summary.moves} moves, ${summary.rateChanges} rate changes`);
  const usage = await seedDemoUsage(ctx);
  console.log(`  ${usage.events} usage events`);
}
startJobs();

console.log(`
Orgdesk demo is running on the embedded database (${config.dataDir}).
  Web app:   ${url}/
  Sign in:   ${process.env.ADMIN_EMAIL} / ${process.env.ADMIN_PASSWORD}
  API docs:  ${url}/api/docs
  API key:   curl -H 'X-API-Key: ${config.adminApiKey}' ${url}/api/organizations
Press Ctrl+C to stop.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    await stop();
    process.exit(0);
  });
}
