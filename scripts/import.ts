/**
 * `bun run import <file> [--url URL] [--key KEY] [--format csv|ndjson]`: streams a usage file to
 * `POST /api/usage/import` (docs/integrations.md, "Bulk import") without reading it into memory,
 * printing progress (rows sent, rows/s, ETA from the bytes left) and then the server's counts and
 * first errors. The format follows the extension (.csv, .ndjson or .jsonl, each optionally .gz,
 * sent gzip-encoded) unless --format says. The URL defaults to ORGDESK_URL or
 * http://localhost:3000, the key to ORGDESK_API_KEY, else ADMIN_API_KEY. Exits 1 when the server
 * refuses the file or some lines were rejected, 2 on a usage error.
 */
import { parseArgs } from "node:util";
import { importProgress } from "./support/import-progress";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: { url: { type: "string" }, key: { type: "string" }, format: { type: "string" }, help: { type: "boolean", short: "h" } },
  allowPositionals: true,
});
const usage = "usage: bun run import <file.csv|file.ndjson[.gz]> [--url http://host:3000] [--key API_KEY] [--format csv|ndjson]";
if (values.help || positionals.length !== 1) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const path = positionals[0]!;
const file = Bun.file(path);
if (!(await file.exists())) {
  console.error(`${path}: no such file`);
  process.exit(2);
}
const gzip = path.endsWith(".gz");
const bare = gzip ? path.slice(0, -3) : path;
const format = values.format ?? (bare.endsWith(".csv") ? "csv" : /\.(ndjson|jsonl)$/.test(bare) ? "ndjson" : null);
if (format !== "csv" && format !== "ndjson") {
  console.error(`Cannot tell the format of ${path} from its name: give --format csv or --format ndjson\n${usage}`);
  process.exit(2);
}
const url = (values.url ?? process.env.ORGDESK_URL ?? "http://localhost:3000").replace(/\/+$/, "");
const key = values.key ?? process.env.ORGDESK_API_KEY ?? process.env.ADMIN_API_KEY;
if (!key) {
  console.error(`An API key is needed: --key, ORGDESK_API_KEY or ADMIN_API_KEY\n${usage}`);
  process.exit(2);
}

const progress = importProgress(file.size, gzip);
const ticker = setInterval(() => process.stderr.write(`\r${progress.line()}   `), 1000);
let res: Response;
try {
  res = await fetch(`${url}/api/usage/import`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": format === "csv" ? "text/csv" : "application/x-ndjson", ...(gzip ? { "content-encoding": "gzip" } : {}) },
    body: file.stream().pipeThrough(progress.counter),
    duplex: "half",
  } as RequestInit);
} catch (err) {
  clearInterval(ticker);
  console.error(`\nThe upload failed: ${(err as Error).message}. Batches already stored stay stored; run the same command again to finish.`);
  process.exit(1);
}
clearInterval(ticker);
process.stderr.write(`\r${progress.line(true)}\n`);
const text = await res.text();
let body: any = null;
try {
  body = JSON.parse(text);
} catch {}
if (!res.ok) {
  console.error(`The server refused the file: ${res.status} ${body?.title ?? ""}: ${body?.detail ?? text.slice(0, 500)}`);
  for (const e of body?.errors ?? []) console.error(`  ${e.path}: ${e.message}`);
  process.exit(1);
}
console.log(`accepted ${body.accepted}, duplicates ${body.duplicates}, rejected ${body.rejected}`);
for (const e of body.errors) console.log(`  line ${e.line}${e.id ? ` (${e.id})` : ""}: ${e.code}: ${e.message}`);
if (body.rejected > body.errors.length) console.log(`  … and ${body.rejected - body.errors.length} more rejected lines`);
process.exit(body.rejected > 0 ? 1 : 0);
