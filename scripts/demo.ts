/**
 * `bun run demo`: builds the web app if needed, starts Orgdesk on the embedded database in
 * DATA_DIR (default ./data/demo), seeds demo data once, and prints where to go.
 */
import { existsSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { platformKeyPrincipal } from "./support/principal";
import { isSeeded, seedDemo } from "../server/demo/seed";
import { seedDemoUsage } from "../server/demo/usage";
import { startServer } from "../server/index";

const root = join(import.meta.dir, "..");
process.env.DATA_DIR ||= join(root, "data", "demo");
process.env.ADMIN_API_KEY ||= "demo-admin-key";
process.env.ADMIN_EMAIL ||= "owner@orgdesk.demo";
process.env.ADMIN_PASSWORD ||= "orgdesk-demo";
// The demo terminal shows how to sign in; request log lines (LOG_LEVEL=info) would bury it.
process.env.LOG_LEVEL ||= "warn";
delete process.env.DATABASE_URL;

function newest(dir: string): number {
  let latest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = statSync(path);
    latest = Math.max(latest, s.isDirectory() ? newest(path) : s.mtimeMs);
  }
  return latest;
}

const webDir = join(root, "web");
const built = join(webDir, "build", "index.html");
if (existsSync(join(webDir, "src")) && (!existsSync(built) || statSync(built).mtimeMs < newest(join(webDir, "src")))) {
  console.log("Building the web app…");
  const build = Bun.spawnSync(["bun", "--bun", "vite", "build"], { cwd: webDir, stdout: "inherit", stderr: "inherit" });
  if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);
}

const { url, database, config, stop } = await startServer();
const ctx = { db: database.db, database, config, principal: platformKeyPrincipal, requestId: "demo-seed", ip: "127.0.0.1" };
if (!(await isSeeded(ctx))) {
  console.log("Seeding demo data (organizations, agents, a year of history)…");
  const summary = await seedDemo(ctx);
  console.log(`  ${summary.organizations} organizations, ${summary.agents} agents, ${summary.moves} moves, ${summary.rateChanges} rate changes`);
  const usage = await seedDemoUsage(ctx);
  console.log(`  ${usage.events} usage events`);
}

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
