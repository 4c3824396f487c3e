/**
 * `bun run audit`: the dependency audit. Asks the npm advisory database (through `bun audit`)
 * about the production dependencies in bun.lock and fails on any advisory of high or critical
 * severity. When the advisory service cannot be reached, says so plainly and exits 0 unless
 * AUDIT_REQUIRED=1, so that an offline CI run is not mistaken for a clean audit: the output then
 * reads "NOT CHECKED".
 */
const proc = Bun.spawnSync(["bun", "audit", "--prod", "--audit-level=high", "--json"], { stdout: "pipe", stderr: "pipe" });
const out = proc.stdout.toString();
const err = proc.stderr.toString();

const unreachable = /error: (POST|GET) https?:\/\/\S+ - \d{3}|ENOTFOUND|ECONNREFUSED|ConnectionRefused|timed out/i.test(err + out);
if (unreachable) {
  console.log(`dependency audit NOT CHECKED: the advisory service did not answer (${(err + out).trim().split("\n").at(-1)})`);
  process.exit(process.env.AUDIT_REQUIRED === "1" ? 2 : 0);
}

let report: Record<string, { severity?: string; title?: string; url?: string }[]> = {};
try {
  report = out.trim() ? JSON.parse(out) : {};
} catch {
  console.log(out || err);
  console.log("dependency audit: could not read the report");
  process.exit(2);
}
const findings = Object.entries(report).flatMap(([pkg, advisories]) =>
  (Array.isArray(advisories) ? advisories : []).filter((a) => a.severity === "high" || a.severity === "critical").map((a) => `${pkg}: ${a.severity} — ${a.title} ${a.url ?? ""}`),
);
if (findings.length > 0) {
  console.log(`dependency audit FAILED: ${findings.length} high or critical advisories\n${findings.join("\n")}`);
  process.exit(1);
}
console.log(`dependency audit passed: no high or critical advisories in the production dependencies (${Object.keys(report).length} packages with lower ones)`);
