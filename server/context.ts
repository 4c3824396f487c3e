import type { Database, Db, Replica } from "../db/client";
import type { Principal } from "./auth/principal";
import type { Config } from "./config";
import type { Metrics } from "./observability/metrics";

/** Per-request context handed to every service function. */
export interface Ctx {
  db: Db;
  config: Config;
  principal: Principal;
  requestId: string;
  /** Caller's address (for rate limits and audit), best effort. */
  ip: string;
  /** Headers added to the response (the session cookie set by sign-in, cleared by sign-out). */
  resHeaders?: Headers;
  /** This server's origin as the caller reached it (behind a trusted proxy, the forwarded one). */
  origin?: string;
  /** The request reached us over https (directly or through a proxy): cookies get `Secure`. */
  secure?: boolean;
  /** The streaming replica report reads may use (docs/scaling.md); absent without one. */
  replica?: Replica;
  /** This instance's metrics (absent in service tests that build a context by hand). */
  metrics?: Metrics;
}

/** Process-wide dependencies the app is built from. */
export interface Deps {
  database: Database;
  config: Config;
  /** Created by the app when not given; the entry point passes its own to the job runner too. */
  metrics?: Metrics;
}
