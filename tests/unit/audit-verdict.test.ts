import { describe, expect, test } from "bun:test";
import { auditVerdict } from "../../scripts/support/audit-verdict";

describe("the dependency audit's verdict", () => {
  test("an advisory service that does not answer is NOT CHECKED, never a pass", () => {
    const stderr = "error: POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk - 405\n";
    expect(auditVerdict("", stderr)).toEqual({ kind: "unreachable", reason: "error: POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk - 405" });
    expect(auditVerdict("", "error: ConnectionRefused").kind).toBe("unreachable");
  });

  test("a high or critical advisory fails and names the package", () => {
    const report = {
      "some-lib": [
        { severity: "high", title: "Prototype pollution", url: "https://example.test/1" },
        { severity: "low", title: "Minor" },
      ],
      other: [{ severity: "critical", title: "Remote code execution" }],
      fine: [{ severity: "moderate", title: "Moderate" }],
    };
    expect(auditVerdict(JSON.stringify(report), "")).toEqual({
      kind: "failed",
      findings: ["some-lib: high — Prototype pollution https://example.test/1", "other: critical — Remote code execution"],
    });
  });

  test("only lower advisories, or none, pass", () => {
    expect(auditVerdict(JSON.stringify({ a: [{ severity: "moderate" }], b: [{ severity: "low" }] }), "")).toEqual({ kind: "passed", packagesWithLowerAdvisories: 2 });
    expect(auditVerdict("{}", "")).toEqual({ kind: "passed", packagesWithLowerAdvisories: 0 });
    expect(auditVerdict("", "")).toEqual({ kind: "passed", packagesWithLowerAdvisories: 0 });
  });

  test("output that is not a report is an error, not a pass", () => {
    expect(auditVerdict("Segmentation fault", "").kind).toBe("unreadable");
    expect(auditVerdict("[1, 2]", "").kind).toBe("unreadable");
    expect(auditVerdict("null", "").kind).toBe("unreadable");
    expect(auditVerdict("", "bun: crashed", 1)).toEqual({ kind: "unreadable", output: "bun: crashed" });
  });
});
