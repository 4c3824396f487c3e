import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The built web app in this checkout (web/build), when it has been built. */
export const DEFAULT_WEB_DIR = resolve(import.meta.dir, "../web/build");

/** Runtime configuration, read once from the environment (README: Configuration). */
export interface Config {
  port: number;
  databaseUrl?: string;
  dataDir: string;
  adminApiKey?: string;
  adminEmail?: string;
  adminPassword?: string;
  /** Largest accepted request body, bytes. */
  maxBodyBytes: number;
  /** Rows per batch (and transaction) of a bulk usage import (docs/integrations.md, Bulk import). */
  importBatchRows: number;
  /** Directory of the built web app (default web/build when it exists); absent = API only. */
  webDir?: string;
  demo: boolean;
  statementTimeoutMs: number;
  /** This server's public address (`PUBLIC_URL`, e.g. `https://orgdesk.example.com`), shown in integration snippets; else the address of the request. */
  publicUrl?: string;
  /** Trust X-Forwarded-For / X-Forwarded-Proto from a proxy in front of us. */
  trustProxy: boolean;
  /** Seconds to wait for a PostgreSQL connection before answering 503. */
  databaseConnectTimeoutSeconds: number;
  /** PostgreSQL connections per instance. */
  databasePoolSize: number;
  /** Seconds a connection may stay silent (slow or stalled client) before it is closed. */
  idleTimeoutSeconds: number;
  /** Seconds a graceful shutdown waits for in-flight requests before closing them. */
  shutdownGraceSeconds: number;
  /** Requests per rate-limit window per credential (API key or session); 0 = unlimited. */
  rateLimitPerKey: number;
  /** Requests per rate-limit window per client address, authenticated or not; 0 = unlimited. */
  rateLimitPerAddress: number;
  /** Length of a rate-limit window, seconds. */
  rateLimitWindowSeconds: number;
  /** Lifetime of a browser session, hours (absolute; signing in again starts a new one). */
  sessionTtlHours: number;
  /** Sign-in attempts allowed per account, and per address, within `loginWindowSeconds`. */
  loginMaxPerAccount: number;
  loginMaxPerAddress: number;
  loginWindowSeconds: number;
  /** Whether this instance runs background jobs (JOBS_ENABLED=0: serve requests only). */
  jobsEnabled: boolean;
  /** How often an idle job runner looks for due jobs, ms (LISTEN/NOTIFY wakes it sooner when available). */
  jobPollIntervalMs: number;
  /** Jobs one instance runs at the same time. */
  jobConcurrency: number;
  /** Wake runners with LISTEN/NOTIFY on PostgreSQL (off behind a transaction-mode pooler, where LISTEN does not work). */
  jobListen: boolean;
  /** 32-byte key that seals stored secrets (webhook signing secrets); base64 or hex. */
  secretsKey?: Uint8Array;
  /** Webhook receivers may be loopback, private, link-local or metadata addresses, and plain http (tests, on-premises). */
  webhookAllowPrivate: boolean;
  /** Time allowed for one delivery attempt, ms. */
  webhookTimeoutMs: number;
  /** The unit of the webhook retry schedule (5, 300, 1800, 7200, 18000, 36000, 36000 units), ms; fractions allowed. */
  webhookRetryUnitMs: number;
  /** Days the delivery log (and its events) is kept after a delivery succeeded or failed. */
  webhookLogRetentionDays: number;
  /** Whole months of raw usage events kept before the current one; null = keep everything (docs/operations.md, "Usage retention"). */
  usageRetentionMonths: number | null;
  /** A URL reaching PostgreSQL directly when `databaseUrl` goes through a pooler: migrations use it. */
  databaseDirectUrl?: string;
  /** A streaming replica that serves report reads (docs/scaling.md, Read replica). */
  databaseReplicaUrl?: string;
  /** Reports go to the primary while the replica is further behind than this, seconds. */
  replicaMaxLagSeconds: number;
  /** `transaction` when `databaseUrl` is a pooler in transaction mode (PgBouncer). */
  databasePoolMode: "session" | "transaction";
  /** Named prepared statements (default: on, except in transaction pool mode). */
  databasePrepare?: boolean;
  /** Bearer token for `GET /metrics`; unset = no metrics endpoint (404). */
  metricsToken?: string;
  /** Least severe log level written: debug, info, warn or error. */
  logLevel: "debug" | "info" | "warn" | "error";
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const port = env.PORT === undefined ? 3000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${env.PORT}`);
  return {
    port,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR || "./data",
    adminApiKey: env.ADMIN_API_KEY || undefined,
    adminEmail: env.ADMIN_EMAIL || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    maxBodyBytes: Number(env.MAX_BODY_BYTES || 2 * 1024 * 1024),
    importBatchRows: whole(env, "IMPORT_BATCH_ROWS", 20_000),
    webDir: env.WEB_DIR || (existsSync(join(DEFAULT_WEB_DIR, "index.html")) ? DEFAULT_WEB_DIR : undefined),
    demo: env.DEMO === "1" || env.DEMO === "true",
    statementTimeoutMs: Number(env.STATEMENT_TIMEOUT_MS || 15000),
    publicUrl: publicUrl(env.PUBLIC_URL),
    trustProxy: env.TRUST_PROXY === "1" || env.TRUST_PROXY === "true",
    databaseConnectTimeoutSeconds: whole(env, "DATABASE_CONNECT_TIMEOUT_S", 5),
    databasePoolSize: whole(env, "DATABASE_POOL_SIZE", 10),
    idleTimeoutSeconds: whole(env, "IDLE_TIMEOUT_S", 30),
    shutdownGraceSeconds: whole(env, "SHUTDOWN_GRACE_S", 20),
    rateLimitPerKey: whole(env, "RATE_LIMIT_PER_KEY", 6000, true),
    rateLimitPerAddress: whole(env, "RATE_LIMIT_PER_ADDRESS", 6000, true),
    rateLimitWindowSeconds: whole(env, "RATE_LIMIT_WINDOW_S", 60),
    sessionTtlHours: whole(env, "SESSION_TTL_HOURS", 168),
    loginMaxPerAccount: whole(env, "LOGIN_MAX_PER_ACCOUNT", 5),
    loginMaxPerAddress: whole(env, "LOGIN_MAX_PER_ADDRESS", 20),
    loginWindowSeconds: whole(env, "LOGIN_WINDOW_SECONDS", 900),
    jobsEnabled: flag(env, "JOBS_ENABLED", true),
    jobPollIntervalMs: whole(env, "JOB_POLL_INTERVAL_MS", 1000),
    jobConcurrency: whole(env, "JOB_CONCURRENCY", 4),
    jobListen: flag(env, "JOB_LISTEN", true),
    secretsKey: secretsKey(env.SECRETS_KEY),
    webhookAllowPrivate: flag(env, "WEBHOOK_ALLOW_PRIVATE", false),
    webhookTimeoutMs: whole(env, "WEBHOOK_TIMEOUT_MS", 15000),
    webhookRetryUnitMs: positive(env, "WEBHOOK_RETRY_UNIT_MS", 1000),
    webhookLogRetentionDays: whole(env, "WEBHOOK_LOG_RETENTION_DAYS", 30),
    usageRetentionMonths: retentionMonths(env.USAGE_RETENTION_MONTHS),
    databaseDirectUrl: env.DATABASE_DIRECT_URL || undefined,
    databaseReplicaUrl: env.DATABASE_REPLICA_URL || undefined,
    replicaMaxLagSeconds: whole(env, "DATABASE_REPLICA_MAX_LAG_S", 30),
    databasePoolMode: oneOf(env, "DATABASE_POOL_MODE", ["session", "transaction"] as const, "session"),
    databasePrepare: env.DATABASE_PREPARE === undefined || env.DATABASE_PREPARE === "" ? undefined : oneOf(env, "DATABASE_PREPARE", ["true", "false"] as const, "true") === "true",
    metricsToken: env.METRICS_TOKEN || undefined,
    logLevel: oneOf(env, "LOG_LEVEL", ["debug", "info", "warn", "error"] as const, "info"),
  };
}

/** USAGE_RETENTION_MONTHS: unset or empty = keep everything, else a whole number of months ≥ 1. */
function retentionMonths(raw: string | undefined): number | null {
  if (raw === undefined || raw.trim() === "") return null;
  const value = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || value < 1 || value > 1200) throw new Error(`USAGE_RETENTION_MONTHS must be a whole number of months from 1 to 1200 (unset keeps everything), got ${raw}`);
  return value;
}

/** An http(s) origin, optionally with a path prefix, without the trailing slash. */
function publicUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`PUBLIC_URL must be an http(s) address, got ${raw}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`PUBLIC_URL must be an http(s) address, got ${raw}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** A positive number, fractions allowed (a schedule unit of 0.05 ms runs the whole webhook schedule in seconds). */
function positive(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(value > 0)) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

/** An on/off setting: 1/true/on or 0/false/off; anything else is refused rather than guessed. */
function flag(env: Record<string, string | undefined>, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "on", "yes"].includes(raw)) return true;
  if (["0", "false", "off", "no"].includes(raw)) return false;
  throw new Error(`${name} must be 1 or 0, got ${env[name]}`);
}

/** SECRETS_KEY: exactly 32 bytes, written as 64 hex digits or base64 (openssl rand -base64 32). */
function secretsKey(raw: string | undefined): Uint8Array | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const text = raw.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, "hex") : /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, "base64") : Buffer.alloc(0);
  if (bytes.length !== 32) throw new Error("SECRETS_KEY must be 32 bytes, as 64 hex digits or base64 (e.g. openssl rand -base64 32)");
  return new Uint8Array(bytes);
}

/** One of `values` from the environment, or `fallback` when unset. */
function oneOf<const T extends readonly string[]>(env: Record<string, string | undefined>, name: string, values: T, fallback: T[number]): T[number] {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!(values as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${values.join(", ")}, got ${raw}`);
  return raw as T[number];
}

/** A positive (or, with `zero`, non-negative) whole number from the environment, or `fallback` when unset. */
function whole(env: Record<string, string | undefined>, name: string, fallback: number, zero = false): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (zero ? 0 : 1)) throw new Error(`${name} must be a ${zero ? "non-negative" : "positive"} whole number, got ${raw}`);
  return value;
}
