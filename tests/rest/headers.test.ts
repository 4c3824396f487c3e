import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testDatabase } from "../support/db";
import { ADMIN_KEY, startTestServer } from "../support/http";

/** Security headers on every kind of response: the web app, its assets, the API, errors. */
const webDir = mkdtempSync(join(tmpdir(), "orgdesk-web-"));
mkdirSync(join(webDir, "_app/immutable"), { recursive: true });
writeFileSync(join(webDir, "index.html"), "<!doctype html><title>Orgdesk</title>");
writeFileSync(join(webDir, "_app/immutable/app.js"), "console.log(1)");
afterAll(() => rmSync(webDir, { recursive: true, force: true }));

const database = await testDatabase();
const { base } = startTestServer(database, { webDir });

const EXPECTED = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "strict-origin-when-cross-origin",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

function checkHeaders(res: Response, path: string) {
  for (const [name, value] of Object.entries(EXPECTED)) expect({ path, [name]: res.headers.get(name) }).toEqual({ path, [name]: value });
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("object-src 'none'");
  expect(res.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
}

describe("security headers", () => {
  const cases: [string, RequestInit?][] = [
    ["/"],
    ["/organizations/acme"],
    ["/_app/immutable/app.js"],
    ["/missing.png"],
    ["/api/health"],
    ["/api/openapi.json"],
    ["/api/docs"],
    ["/api/organizations", { headers: { "x-api-key": ADMIN_KEY } }],
    ["/api/organizations"],
    ["/api/nothing-here"],
    ["/api/organizations", { method: "PUT", headers: { "x-api-key": ADMIN_KEY } }],
    ["/trpc/orgs.list"],
    ["/%E0%A4%A"],
    ["/api/organizations/%E0%A4%A", { headers: { "x-api-key": ADMIN_KEY } }],
    ["/..%2f..%2fetc%2fpasswd"],
  ];
  for (const [path, init] of cases) {
    test(`${init?.method ?? "GET"} ${path}${init?.headers ? " (with key)" : ""} carries CSP, frame-ancestors, nosniff and referrer policy, and is never a 5xx`, async () => {
      const res = await fetch(base + path, init);
      expect(res.status).toBeLessThan(500);
      checkHeaders(res, path);
    });
  }

  test("HSTS is sent behind https only", async () => {
    expect((await fetch(`${base}/api/health`)).headers.get("strict-transport-security")).toBeNull();
    expect((await fetch(`${base}/api/health`, { headers: { "x-forwarded-proto": "https" } })).headers.get("strict-transport-security")).toContain("max-age=");
  });

  test("a path that escapes the web directory is never served from outside it", async () => {
    const res = await fetch(`${base}/..%2f..%2f..%2fetc%2fpasswd`);
    expect(await res.text()).not.toContain("root:");
  });
});
