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
  /** Directory of the built web app (default web/build when it exists); absent = API only. */
  webDir?: string;
  demo: boolean;
  statementTimeoutMs: number;
  /** Trust X-Forwarded-For / X-Forwarded-Proto from a proxy in front of us. */
  trustProxy: boolean;
  /** Lifetime of a browser session, hours (absolute; signing in again starts a new one). */
  sessionTtlHours: number;
  /** Sign-in attempts allowed per account, and per address, within `loginWindowSeconds`. */
  loginMaxPerAccount: number;
  loginMaxPerAddress: number;
  loginWindowSeconds: number;
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
    webDir: env.WEB_DIR || (existsSync(join(DEFAULT_WEB_DIR, "index.html")) ? DEFAULT_WEB_DIR : undefined),
    demo: env.DEMO === "1" || env.DEMO === "true",
    statementTimeoutMs: Number(env.STATEMENT_TIMEOUT_MS || 15000),
    trustProxy: env.TRUST_PROXY === "1" || env.TRUST_PROXY === "true",
    sessionTtlHours: positive(env, "SESSION_TTL_HOURS", 168),
    loginMaxPerAccount: positive(env, "LOGIN_MAX_PER_ACCOUNT", 5),
    loginMaxPerAddress: positive(env, "LOGIN_MAX_PER_ADDRESS", 20),
    loginWindowSeconds: positive(env, "LOGIN_WINDOW_SECONDS", 900),
  };
}

function positive(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number, got ${raw}`);
  return value;
}
