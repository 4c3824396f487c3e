/**
 * `bun run audit`: the dependency audit. Asks the npm advisory database (through `bun audit`)
 * about the production dependencies in bun.lock and fails on any advisory of high or critical
 * severity. When the advisory service cannot be reached, says so plainly and exits 0 unless
 * AUDIT_REQUIRED=1, so that an offline CI run is not mistaken for a clean audit: the output then
 * reads "NOT CHECKED".
 */
import { auditVerdict } from "./support/audit-verdict";

const proc = Bun.spawnSync(["bun", "audit", "--prod", "--audit-level=high", "--json"], { stdout: "pipe", stderr: "pipe" });
const verdict = auditVerdict(proc.stdout.toString(), proc.stderr.toString(), proc.exitCode ?? 1);

switch (verdict.kind) {
  case "unreachable":
    console.log(`dependency audit NOT CHECKED: the advisory service did not answer (${verdict.reason})`);
    process.exit(process.env.AUDIT_REQUIRED === "1" ? 2 : 0);
    break;
  case "unreadable":
    console.log(verdict.output);
    console.log("dependency audit: could not read the report");
    process.exit(2);
    break;
  case "failed":
    console.log(`dependency audit FAILED: ${verdict.findings.length} high or critical advisories\n${verdict.findings.join("\n")}`);
    process.exit(1);
    break;
  case "passed":
    console.log(`dependency audit passed: no high or critical advisories in the production dependencies (${verdict.packagesWithLowerAdvisories} packages with lower ones)`);
}
