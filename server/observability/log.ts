/**
 * Structured logs: one JSON object per line on standard output (docs/operations.md, Logs). Every
 * line passes one redaction step before it is written, so a secret that reaches a message by
 * accident (an API key pasted into a field, a configured secret in a driver error) is replaced, not
 * written. Nothing here ever logs headers or bodies.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Our API keys, wherever they appear: `odk_<public prefix>_<secret>`; the prefix is kept. */
const API_KEY = /(odk_[a-z0-9]{10}_)[A-Za-z0-9_-]{43}/g;
/** A bearer credential in anything that looks like a header line. */
const BEARER = /(bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

let threshold = RANK.info;
/** Configured secrets (ADMIN_API_KEY, METRICS_TOKEN, ADMIN_PASSWORD), as they appear inside a JSON string. */
const secrets = new Set<string>();
let sink: (line: string) => void = (line) => process.stdout.write(line + "\n");

/** Sets the level (`LOG_LEVEL`) and adds secrets that must never be written. */
export function configureLogging(options: { level?: LogLevel; secrets?: (string | undefined)[] }) {
  if (options.level) threshold = RANK[options.level];
  for (const s of options.secrets ?? []) if (s && s.length >= 4) secrets.add(JSON.stringify(s).slice(1, -1));
}

/** Where lines go (standard output by default); tests send them to a file they scan for secrets. Returns the previous one. */
export function setLogSink(write: (line: string) => void): (line: string) => void {
  const previous = sink;
  sink = write;
  return previous;
}

export function redact(line: string): string {
  let out = line.replace(API_KEY, "$1[REDACTED]").replace(BEARER, "$1[REDACTED]");
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("[REDACTED]");
  return out;
}

function write(level: LogLevel, msg: string, fields: LogFields = {}, always = false) {
  if (RANK[level] < threshold && !always) return;
  sink(redact(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })));
}

export const log = {
  debug: (msg: string, fields?: LogFields) => write("debug", msg, fields),
  info: (msg: string, fields?: LogFields) => write("info", msg, fields),
  warn: (msg: string, fields?: LogFields) => write("warn", msg, fields),
  error: (msg: string, fields?: LogFields) => write("error", msg, fields),
  /** Start-up and shutdown announcements: info lines written whatever the level. */
  lifecycle: (msg: string, fields?: LogFields) => write("info", msg, fields, true),
  enabled: (level: LogLevel) => RANK[level] >= threshold,
};
