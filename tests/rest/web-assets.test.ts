import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync } from "node:zlib";
import { acceptsEncoding } from "../../server/app";
import { testDatabase } from "../support/db";
import { startTestServer } from "../support/http";

/**
 * The built web app's files go out as the build's brotli or gzip copy when the browser accepts
 * one (docs/web.md, "First visit"), with the file's own type; otherwise as they are.
 */
const webDir = mkdtempSync(join(tmpdir(), "orgdesk-web-assets-"));
afterAll(() => rmSync(webDir, { recursive: true, force: true }));
const INDEX = "<!doctype html><title>Orgdesk</title><p>the app shell</p>";
const SCRIPT = `export const greeting = ${JSON.stringify("hello ".repeat(200))};`;
const PLAIN = "console.log('no compressed copy')";
const REPORTS = "<!doctype html><title>Reports</title><p>drawn at build time</p>";
mkdirSync(join(webDir, "_app/immutable"), { recursive: true });
for (const [path, text, copies] of [
  ["index.html", INDEX, true],
  ["_app/immutable/app.js", SCRIPT, true],
  ["_app/immutable/plain.js", PLAIN, false],
  ["reports.html", REPORTS, true],
] as const) {
  writeFileSync(join(webDir, path), text);
  if (copies) {
    writeFileSync(join(webDir, path + ".br"), brotliCompressSync(text));
    writeFileSync(join(webDir, path + ".gz"), Bun.gzipSync(text));
  }
}

const database = await testDatabase();
const { base } = startTestServer(database, { webDir });

/** The response as it came over the wire: headers and the still-encoded bytes. */
async function raw(path: string, acceptEncoding?: string, cookie?: string) {
  const headers: Record<string, string> = {};
  if (acceptEncoding !== undefined) headers["accept-encoding"] = acceptEncoding;
  if (cookie !== undefined) headers.cookie = cookie;
  const res = await fetch(`${base}${path}`, { headers, decompress: false } as RequestInit);
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("the web app's files, compressed when the browser accepts it", () => {
  test("brotli when accepted, with the script's type, cached for good and marked as varying", async () => {
    const res = await raw("/_app/immutable/app.js", "gzip, deflate, br, zstd");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-encoding")).toBe("br");
    expect(res.headers.get("content-type")).toContain("javascript");
    expect(res.headers.get("vary")?.toLowerCase()).toContain("accept-encoding");
    expect(res.headers.get("cache-control")).toContain("immutable");
    expect(res.bytes.length).toBeLessThan(SCRIPT.length / 4);
    expect(text(brotliDecompressSync(res.bytes))).toBe(SCRIPT);
  });

  test("gzip when brotli is not accepted, or refused with q=0", async () => {
    for (const header of ["gzip", "gzip, deflate", "br;q=0, gzip", "BR;Q=0.000, *"]) {
      const res = await raw("/_app/immutable/app.js", header);
      expect({ header, coding: res.headers.get("content-encoding") }).toEqual({ header, coding: "gzip" });
      expect(text(Bun.gunzipSync(res.bytes))).toBe(SCRIPT);
    }
  });

  test("the file itself when nothing is accepted, or when the build wrote no copy", async () => {
    for (const header of [undefined, "", "identity", "gzip;q=0, br;q=0", "*;q=0"]) {
      const res = await raw("/_app/immutable/app.js", header);
      expect({ header, coding: res.headers.get("content-encoding") }).toEqual({ header, coding: null });
      expect(text(res.bytes)).toBe(SCRIPT);
    }
    const plain = await raw("/_app/immutable/plain.js", "br, gzip");
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(text(plain.bytes)).toBe(PLAIN);
  });

  test("the app shell for a client-side route is compressed too, as HTML that is never cached", async () => {
    const res = await raw("/organizations", "br");
    expect(res.headers.get("content-encoding")).toBe("br");
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(text(brotliDecompressSync(res.bytes))).toBe(INDEX);
    // A browser's fetch decodes it: what a page receives is the HTML.
    expect(await (await fetch(`${base}/organizations`)).text()).toBe(INDEX);
  });

  test("a missing file is still a 404, whatever the coding", async () => {
    expect((await raw("/_app/immutable/missing.js", "br")).status).toBe(404);
    expect((await raw("/api/nothing-here", "br")).headers.get("content-type")).toContain("application/problem+json");
  });

  test("a route the build rendered ahead is served as its own page to a visitor with a session; its sub-routes and other routes get the app shell", async () => {
    const session = "orgdesk_session=any-token; theme=dark";
    const page = await raw("/reports", "br", session);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("vary")).toBe("accept-encoding, cookie");
    expect(text(brotliDecompressSync(page.bytes))).toBe(REPORTS);
    for (const path of ["/reports/", "/reports/q3", "/elsewhere"]) expect({ path, body: text((await raw(path, undefined, session)).bytes) }).toEqual({ path, body: INDEX });
  });

  test("a visitor without a session cookie gets the app shell for a rendered route, which draws the signed-in frame", async () => {
    for (const cookie of [undefined, "theme=dark", "orgdesk_session="]) {
      const page = await raw("/reports", undefined, cookie);
      expect({ cookie, status: page.status, body: text(page.bytes), vary: page.headers.get("vary") }).toEqual({ cookie, status: 200, body: INDEX, vary: "accept-encoding, cookie" });
    }
  });

  test("the files are listed when the server starts: one written later is not served until a restart", async () => {
    writeFileSync(join(webDir, "_app/immutable/late.js"), PLAIN);
    expect((await raw("/_app/immutable/late.js")).status).toBe(404);
    expect((await raw("/_app/immutable/plain.js")).status).toBe(200);
  });
});

describe("Accept-Encoding", () => {
  test("a coding counts when listed with a weight above 0, or covered by * without being refused", () => {
    expect(acceptsEncoding("gzip, deflate, br", "br")).toBe(true);
    expect(acceptsEncoding("gzip;q=1.0, br;q=0.5", "br")).toBe(true);
    expect(acceptsEncoding("br;q=0", "br")).toBe(false);
    expect(acceptsEncoding("br; q=0.0", "br")).toBe(false);
    expect(acceptsEncoding("*", "br")).toBe(true);
    expect(acceptsEncoding("*, br;q=0", "br")).toBe(false);
    expect(acceptsEncoding("gzip", "br")).toBe(false);
    expect(acceptsEncoding("br;q=abc", "br")).toBe(false);
    expect(acceptsEncoding(undefined, "gzip")).toBe(false);
    expect(acceptsEncoding("", "gzip")).toBe(false);
  });
});
