import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * Lints an OpenAPI document with two tools nobody here wrote: Redocly CLI (its recommended rules:
 * is the document valid?) and Spectral with the OWASP API security ruleset as the repository's
 * `.spectral.yaml` adjusts it (docs/api.md says which rules are off and why). Both run under Bun
 * (`bun --bun`), in parallel, offline: no telemetry, no update check, rulesets from node_modules.
 */

const ROOT = resolve(import.meta.dir, "../..");

export interface Finding {
  tool: "redocly" | "spectral";
  rule: string;
  severity: "error" | "warning" | "info";
  where: string;
  message: string;
}

export interface LintReport {
  errors: Finding[];
  warnings: Finding[];
  /** Raw output of a tool that did not produce a readable report (a crash), else empty. */
  failures: string[];
}

const SPECTRAL_SEVERITY = ["error", "warning", "info", "info"] as const;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, "--bun", ...args], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function redocly(file: string): Promise<Finding[] | string> {
  const { stdout, stderr, code } = await run([join(ROOT, "node_modules/@redocly/cli/bin/cli.js"), "lint", file, "--config", join(ROOT, "redocly.yaml"), "--format=json"]);
  try {
    const report = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[] };
    return report.problems.map((p) => ({
      tool: "redocly" as const,
      rule: p.ruleId,
      severity: p.severity === "error" ? "error" : p.severity === "warn" ? "warning" : "info",
      where: p.location[0]?.pointer ?? "",
      message: p.message,
    }));
  } catch {
    return `redocly exited ${code}: ${stdout.slice(0, 2000)} ${stderr.slice(0, 2000)}`;
  }
}

async function spectral(file: string): Promise<Finding[] | string> {
  const { stdout, stderr, code } = await run([join(ROOT, "node_modules/@stoplight/spectral-cli/dist/index.js"), "lint", file, "--ruleset", join(ROOT, ".spectral.yaml"), "--format", "json", "--quiet"]);
  try {
    const results = JSON.parse(stdout.slice(stdout.indexOf("["))) as { code: string; severity: number; message: string; path: (string | number)[] }[];
    return results.map((r) => ({ tool: "spectral" as const, rule: r.code, severity: SPECTRAL_SEVERITY[r.severity] ?? "info", where: r.path.join("."), message: r.message }));
  } catch {
    return `spectral exited ${code}: ${stdout.slice(0, 2000)} ${stderr.slice(0, 2000)}`;
  }
}

/** Runs both linters (or `only` one) on `doc`; a finding of severity error from either fails the document. */
export async function lintApiDocument(doc: unknown, only?: "redocly" | "spectral"): Promise<LintReport> {
  const dir = mkdtempSync(join(tmpdir(), "orgdesk-openapi-"));
  try {
    const file = join(dir, "openapi.json");
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const outcomes = await Promise.all([only === "spectral" ? [] : redocly(file), only === "redocly" ? [] : spectral(file)]);
    const findings = outcomes.flatMap((o) => (typeof o === "string" ? [] : o));
    return {
      errors: findings.filter((f) => f.severity === "error"),
      warnings: findings.filter((f) => f.severity === "warning"),
      failures: outcomes.filter((o): o is string => typeof o === "string"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Warnings counted by tool and rule, e.g. `spectral owasp:api4:2023-string-restricted: 212`. */
export function tally(findings: Finding[]): string[] {
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(`${f.tool} ${f.rule}`, (counts.get(`${f.tool} ${f.rule}`) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`);
}
