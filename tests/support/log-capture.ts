import { afterAll } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setLogSink } from "../../server/observability/log";

/**
 * Every server log line of a test run, and every secret the run handled, so that the end of the
 * run can prove no secret was ever written to a log (docs/operations.md, Logs).
 *
 * `startCapture` runs first in every `bun test` run (tests/support/log-capture-preload.ts, preloaded
 * by bunfig.toml); outside a test run (benchmarks, the soak) nothing here does anything.
 * In-process servers log through the logger's sink,
 * which writes here instead of the terminal; spawned server processes have their output appended
 * by tests/support/server-process.ts. Secrets are collected from the traffic itself (a wrapper
 * around `fetch` reads credentials and passwords the tests send, and keys and session tokens the
 * servers return), from the fixtures that create users and keys, and from the configuration the
 * servers start with. After the last test file, the whole log is scanned for each of them and for
 * anything shaped like one of our API keys; one hit fails the run.
 */
const RUN_DIR = join(tmpdir(), "orgdesk-test-logs", String(process.pid));
export const LOG_FILE = join(RUN_DIR, "server.log");
let fd: number | null = null;

/** Appends server output (one or more lines) to the run's log. */
export function captureLog(text: string) {
  if (text && fd !== null) writeSync(fd, text.endsWith("\n") ? text : text + "\n");
}

const secrets = new Map<string, string>();

/** Remembers a secret the run created or sent; `what` names it in a failure. Short values are ignored. */
export function noteSecret(value: string | null | undefined, what: string) {
  if (typeof value !== "string" || fd === null) return;
  const v = value.trim();
  if (v.length >= 8 && !secrets.has(v)) secrets.set(v, what);
}

/** Secret-bearing fields of JSON bodies, in requests and responses. */
const SECRET_FIELDS = new Set(["password", "current_password", "new_password", "currentPassword", "newPassword", "secret", "token", "key", "signing_secret", "webhook_secret"]);

function noteFields(value: unknown, where: string, depth = 0) {
  if (depth > 6 || value === null || typeof value !== "object") return;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === "string" && SECRET_FIELDS.has(k)) noteSecret(v, `${where} field "${k}"`);
    else noteFields(v, where, depth + 1);
  }
}

function noteJson(text: string, where: string) {
  if (!text || (text[0] !== "{" && text[0] !== "[")) return;
  try {
    noteFields(JSON.parse(text), where);
  } catch {}
}

const SESSION = /orgdesk_session=([^;,\s]+)/g;

function noteHeaders(headers: Headers, where: string) {
  noteSecret(headers.get("x-api-key"), `${where} X-API-Key`);
  const auth = headers.get("authorization");
  if (auth) noteSecret(auth.replace(/^\w+\s+/, ""), `${where} Authorization`);
  for (const m of (headers.get("cookie") ?? "").matchAll(SESSION)) noteSecret(m[1], `${where} session cookie`);
  for (const c of headers.getSetCookie?.() ?? []) for (const m of c.matchAll(SESSION)) noteSecret(m[1], `${where} session cookie`);
}

const realFetch = globalThis.fetch;
const watchedFetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
  noteHeaders(new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)), "request");
  if (typeof init?.body === "string") noteJson(init.body, "request body");
  const response = await realFetch(input as never, init as never);
  noteHeaders(response.headers, "response");
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("json")) noteJson(await response.clone().text(), "response body");
  return response;
};

/** Our API key shape, anywhere: no log line may carry one (the logger masks them; raw output must not either). */
const API_KEY_SHAPE = /odk_[a-z0-9]{10}_[A-Za-z0-9_-]{43}/;

export interface Finding {
  what: string;
  line: string;
}

/** Every log line of `text` that carries one of `known` secrets or an API key. */
export function findSecrets(text: string, known: Map<string, string>): Finding[] {
  const findings: Finding[] = [];
  const lineOf = (index: number) => {
    const start = text.lastIndexOf("\n", index) + 1;
    const end = text.indexOf("\n", index);
    return text.slice(start, end < 0 ? undefined : end).slice(0, 400);
  };
  const shaped = API_KEY_SHAPE.exec(text);
  if (shaped) findings.push({ what: "an API key", line: lineOf(shaped.index) });
  // Token-like secrets (keys, session tokens) are looked up among the maximal token-like runs of the
  // log, collected in one pass; the others (passwords with spaces) are searched for directly.
  const runs = new Set(text.match(/[A-Za-z0-9_-]{8,}/g) ?? []);
  for (const [secret, what] of known) {
    if (/^[A-Za-z0-9_-]+$/.test(secret) && !runs.has(secret)) continue;
    const at = text.indexOf(secret);
    if (at >= 0) findings.push({ what, line: lineOf(at) });
  }
  return findings;
}

/** Starts capturing for this test run and scans everything after its last test file. */
export function startCapture() {
  mkdirSync(RUN_DIR, { recursive: true });
  const out = (fd = openSync(LOG_FILE, "w"));
  setLogSink((line) => writeSync(out, line + "\n"));
  // The tests' HTTP traffic: every fetch a test makes goes through here first.
  globalThis.fetch = Object.assign(watchedFetch, realFetch) as typeof fetch;
  afterAll(scan);
}

function scan() {
  closeSync(fd!);
  fd = null;
  const text = readFileSync(LOG_FILE, "utf8");
  const findings = findSecrets(text, secrets);
  if (findings.length > 0) {
    throw new Error(
      `${findings.length} secret(s) written to server logs (of ${secrets.size} the run handled); the log is kept at ${LOG_FILE}:\n` +
        findings
          .slice(0, 10)
          .map((f) => `- ${f.what}: ${f.line}`)
          .join("\n"),
    );
  }
  rmSync(RUN_DIR, { recursive: true, force: true });
}
