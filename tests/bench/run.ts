import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../support/server-process";
import { runApi } from "./b1-api";
import { runSummary } from "./b3-summary";
import { runIngest } from "./b4-ingest";
import { runImport } from "./b7-import";
import { runWeb } from "./b5-web";
import { runOtlp } from "./b8-otlp";
import { runWebhooks } from "./b9-webhooks";
import { eventsDatabase, GENERATOR_VERSION, type LoadReport } from "./generator";
import { admin } from "./lib/databases";
import { hasWrk } from "./lib/load";
import { machineDescription, markdownTable, NotMeasured, type Row, table } from "./lib/report";

/**
 * `bun run bench`: B1–B9 in one run, one table on stdout, the same table with the machine, the
 * date and the notes in docs/benchmarks.md. Every figure is a ratio against a baseline measured in
 * this run, in alternating rounds, medians reported.
 *
 * Flags: `--only B1,B3` (no docs written), `--events N` (size of the big dataset, default 10M),
 * `--quick` (fewer, shorter rounds; no docs written), `--import-rows N` (rows of B7's file, default
 * 10M, 200,000 with --quick).
 */
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = flag("--only")?.toUpperCase().split(",");
const quick = args.includes("--quick");
const bigEvents = Number(flag("--events") ?? 10_000_000);
const smallEvents = Math.max(1000, Math.round(bigEvents / 10));
const importRows = Number(flag("--import-rows") ?? (quick ? 200_000 : 10_000_000));
const wanted = (id: string) => !only || only.includes(id);
const writeDocs = !only && !quick && bigEvents === 10_000_000 && importRows === 10_000_000;

const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const log = (s: string) => console.log(`[${elapsed().toFixed(0).padStart(4)} s] ${s}`);
const phases: string[] = [];
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = elapsed();
  try {
    return await fn();
  } finally {
    phases.push(`${name}: ${(elapsed() - start).toFixed(0)} s`);
  }
}

const sql = admin();
const [{ version } = { version: "?" }] = await sql<{ version: string }[]>`select split_part(version(), ' on ', 1) as version`;
await sql.end();
const machine = machineDescription(version);
for (const line of machine) log(line);
if (!hasWrk()) log("wrk is not installed (apt-get install -y wrk): using the built-in Bun load generator");

const rows: Row[] = [];
const notMeasured = (ids: [string, string, string][], reason: string) => {
  for (const [id, what, target] of ids) rows.push({ id, what, figure: "—", target, status: "not measured", note: reason });
};
const failed = (ids: [string, string, string][], err: unknown) => {
  if (err instanceof NotMeasured) return notMeasured(ids, err.message);
  log(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  notMeasured(ids, `the benchmark failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
};

const B1: [string, string, string] = ["B1", "REST GET /api/organizations vs bare Bun.serve + postgres.js", "≥ 85 %"];
const B2: [string, string, string] = ["B2", "the same list through tRPC vs REST", "≥ 90 % of B1"];
const B3: [string, string, string] = ["B3", "billing-summary, 1 org × 12 months, 10M events", "≤ 1.5× rollup SQL, ≤ 0.1× raw SQL, ≤ 1.2× growth 1M→10M"];
const B4: [string, string, string] = ["B4", "POST /api/usage vs COPY into a bare table", "≥ 40 %"];
const B5: [string, string, string] = ["B5", "web: first-visit JS (gzip) and LCP, 500 orgs", "≤ 100 KB, LCP ≤ 3× a static page's"];
const B7: [string, string, string] = ["B7", "bulk import (CSV over HTTP) vs COPY of the same file into a bare table; server RSS", "≥ 50 %, RSS < 300 MB"];
const B8: [string, string, string] = ["B8", "OTLP protobuf billable spans/s vs the same events through POST /api/usage", "≥ 70 %"];
const B6: [string, string, string] = ["B6", "server RSS under the B1 load", "≤ 200 MB"];
const B9: [string, string, string] = ["B9", "webhook deliveries/s vs a bare loop of the same signed POSTs", "≥ 50 %"];

if (wanted("B1") || wanted("B2") || wanted("B6")) {
  try {
    const api = await phase("B1/B2/B6", () => runApi(quick ? { rounds: 3, seconds: 2, connections: 16 } : { rounds: 5, seconds: 4, connections: 16 }, log));
    rows.push(...api.filter((r) => wanted(r.id)));
  } catch (err) {
    failed([B1, B2, B6].filter(([id]) => wanted(id)), err);
  }
}

// Billing (usage ingestion, rollups, billing-summary) is what B3 and B4 measure.
const hasBilling = existsSync(join(ROOT, "server/modules/usage/service.ts")) && readFileSync(join(ROOT, "server/rest/routes.ts"), "utf8").includes("usage");
const loads: LoadReport[] = [];
let big: Awaited<ReturnType<typeof eventsDatabase>> | undefined;
let small: Awaited<ReturnType<typeof eventsDatabase>> | undefined;
if ((wanted("B3") || wanted("B4")) && !hasBilling) {
  notMeasured([B3, B4].filter(([id]) => wanted(id)), "usage ingestion and billing-summary are not on this branch yet (the billing issue)");
} else if (wanted("B3") || wanted("B4")) {
  try {
    small = await phase(`dataset ${smallEvents.toLocaleString("en-US")} events`, () => eventsDatabase(smallEvents, log));
    if (small.report) loads.push(small.report);
    if (wanted("B4")) {
      try {
        rows.push(...(await phase("B4", () => runIngest(small!, quick ? { rounds: 2, events: 20_000 } : { rounds: 5, events: 50_000 }, log))));
      } catch (err) {
        failed([B4], err);
      }
    }
    if (wanted("B3")) {
      big = await phase(`dataset ${bigEvents.toLocaleString("en-US")} events`, () => eventsDatabase(bigEvents, log));
      if (big.report) loads.push(big.report);
      try {
        rows.push(
          ...(await phase("B3", () =>
            runSummary({ url: big!.url, events: bigEvents }, { url: small!.url, events: smallEvents }, quick ? { rounds: 3, perRound: 5, rawPerRound: 1 } : { rounds: 5, perRound: 15, rawPerRound: 2 }, log),
          )),
        );
      } catch (err) {
        failed([B3], err);
      }
    }
  } catch (err) {
    failed([B3, B4].filter(([id]) => wanted(id) && !rows.some((r) => r.id === id)), err);
  }
}

if (wanted("B7")) {
  try {
    rows.push(...(await phase("B7", () => runImport({ rows: importRows }, log))));
  } catch (err) {
    failed([B7], err);
  }
}

if (wanted("B8")) {
  try {
    rows.push(...(await phase("B8", () => runOtlp(quick ? { rounds: 3, spans: 10_000 } : { rounds: 5, spans: 20_000 }, log))));
  } catch (err) {
    failed([B8], err);
  }
}

if (wanted("B5")) {
  try {
    rows.push(...(await phase("B5", () => runWeb(quick ? { rounds: 2 } : { rounds: 15 }, log))));
  } catch (err) {
    failed([B5], err);
  }
}

if (wanted("B9")) {
  try {
    rows.push(...(await phase("B9", () => runWebhooks(quick ? { rounds: 3, deliveries: 4000 } : { rounds: 5, deliveries: 10_000 }, log))));
  } catch (err) {
    failed([B9], err);
  }
}

rows.sort((a, b) => a.id.localeCompare(b.id));
const total = elapsed();
console.log("\n" + table(rows) + "\n");
for (const r of rows) if (r.note) console.log(`${r.id}: ${r.note}`);
console.log(`\nTotal ${(total / 60).toFixed(1)} min (${phases.join(", ")})`);

if (writeDocs) {
  const date = new Date().toISOString().replace("T", " ").slice(0, 16) + " UTC";
  const datasets = [
    big && `- ${bigEvents.toLocaleString("en-US")} events: \`${big.name}\` (${big.report ? `loaded in this run in ${big.report.seconds.toFixed(0)} s: COPY ${big.report.copySeconds.toFixed(0)} s, keys and indexes ${big.report.indexSeconds.toFixed(0)} s, rollup rebuild ${big.report.rollupSeconds.toFixed(0)} s (${big.report.rollupRows.toLocaleString("en-US")} rows), checks and vacuum ${big.report.verifySeconds.toFixed(0)} s` : "reused from an earlier run"})`,
    small && `- ${smallEvents.toLocaleString("en-US")} events: \`${small.name}\` (${small.report ? `loaded in this run in ${small.report.seconds.toFixed(0)} s` : "reused from an earlier run"})`,
  ].filter(Boolean);
  const fixes = existsSync(join(import.meta.dir, "fixes.md")) ? readFileSync(join(import.meta.dir, "fixes.md"), "utf8").trim() : "";
  const doc = `# Benchmarks

Written by \`bun run bench\` (tests/bench/run.ts) on ${date}; do not edit by hand — the fix log at
the end comes from tests/bench/fixes.md. How the figures are taken, and why, is in docs/scaling.md.

## Machine

${machine.map((l) => `- ${l}`).join("\n")}
- Load generator: ${hasWrk() ? "wrk (Debian package)" : "built-in Bun closed-loop generator (wrk not installed)"}, on 127.0.0.1, ports chosen by the OS
- The machine is shared with other work: every figure is a ratio against a baseline measured in
  the same run, in alternating rounds, and medians are reported.

## Results

${markdownTable(rows)}

Total run: ${(total / 60).toFixed(1)} min (${phases.join(", ")}).

## Notes

${rows.map((r) => `- **${r.id}** — ${r.note ?? ""}`).join("\n")}

## Data

Events are generated by tests/bench/generator.ts (version ${GENERATOR_VERSION}): 41 organizations (one internal) in six
currencies, 400 agents with a year of moves, rate changes, a paused client and archived agents, all
created through the services with backdated times; events over the 11 previous months and the
current one, COPYed into \`usage_events\` exactly as ingestion stores them, then \`usage_month_rollups\`
rebuilt set-based and checked equal to the raw events per organization and month. A loaded database
is kept between runs and reused while the migrations, the generator version and the month are the
same (its name carries all three).

${datasets.join("\n")}

${fixes}
`;
  writeFileSync(join(ROOT, "docs/benchmarks.md"), doc);
  log("wrote docs/benchmarks.md");
}
