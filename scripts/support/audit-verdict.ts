/**
 * The decision of `bun run audit` from what `bun audit --json` printed: kept apart from the process
 * so that every outcome is tested without the advisory service (tests/unit/audit-verdict.test.ts).
 */
export type AuditVerdict =
  | { kind: "unreachable"; reason: string }
  | { kind: "unreadable"; output: string }
  | { kind: "failed"; findings: string[] }
  | { kind: "passed"; packagesWithLowerAdvisories: number };

interface Advisory {
  severity?: string;
  title?: string;
  url?: string;
}

const UNREACHABLE = /error: (POST|GET) https?:\/\/\S+ - \d{3}|ENOTFOUND|ECONNREFUSED|ConnectionRefused|timed out/i;

/** High and critical advisories fail; lower ones are counted; no answer is never a pass. */
export function auditVerdict(stdout: string, stderr: string, exitCode = 0): AuditVerdict {
  const all = `${stderr}${stdout}`;
  if (UNREACHABLE.test(all)) return { kind: "unreachable", reason: all.trim().split("\n").at(-1) ?? "" };
  // Nothing printed is a clean report only when `bun audit` also exited cleanly.
  if (!stdout.trim() && exitCode !== 0) return { kind: "unreadable", output: stderr };
  let report: unknown;
  try {
    report = stdout.trim() ? JSON.parse(stdout) : {};
  } catch {
    return { kind: "unreadable", output: stdout || stderr };
  }
  if (!report || typeof report !== "object" || Array.isArray(report)) return { kind: "unreadable", output: stdout };
  const entries = Object.entries(report as Record<string, unknown>);
  const findings = entries.flatMap(([pkg, advisories]) =>
    (Array.isArray(advisories) ? (advisories as Advisory[]) : [])
      .filter((a) => a.severity === "high" || a.severity === "critical")
      .map((a) => `${pkg}: ${a.severity} — ${a.title ?? "(no title)"} ${a.url ?? ""}`.trim()),
  );
  if (findings.length > 0) return { kind: "failed", findings };
  return { kind: "passed", packagesWithLowerAdvisories: entries.length };
}
