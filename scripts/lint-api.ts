/**
 * `bun run lint:api`: dumps `/api/openapi.json` from the app and lints it with Redocly and with
 * Spectral's OWASP ruleset (as `.spectral.yaml` adjusts it). Exits 1 on any error; prints the
 * warnings that remain, counted by rule (docs/api.md lists them). The same check runs in the test
 * suite (tests/rest/openapi.test.ts) against a server on a real database.
 */
import type { Database } from "../db/client";
import { createApp } from "../server/app";
import { loadConfig } from "../server/config";
import { lintApiDocument, tally } from "./support/lint-api";

// The document needs no database: rate limits off, and a database whose every use throws.
const refuse = (what: string): any =>
  new Proxy(() => {}, {
    get: (_, name) => refuse(`${what}.${String(name)}`),
    apply: () => {
      throw new Error(`serving /api/openapi.json needs no database (it called ${what})`);
    },
  });
const database = refuse("database") as Database;
const app = createApp({ database, config: { ...loadConfig({}), rateLimitPerKey: 0, rateLimitPerAddress: 0, webDir: undefined } });
const res = await app.request("/api/openapi.json");
if (res.status !== 200) throw new Error(`/api/openapi.json answered ${res.status}`);
const report = await lintApiDocument(await res.json());

for (const failure of report.failures) console.log(`linter failed: ${failure}`);
for (const e of report.errors) console.log(`error ${e.tool} ${e.rule} at ${e.where}: ${e.message}`);
console.log(`OpenAPI document: ${report.errors.length} errors, ${report.warnings.length} warnings`);
for (const line of tally(report.warnings)) console.log(`  warning ${line}`);
process.exit(report.errors.length > 0 || report.failures.length > 0 ? 1 : 0);
