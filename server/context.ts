import type { Database, Db } from "../db/client";
import type { Principal } from "./auth/principal";
import type { Config } from "./config";

/** Per-request context handed to every service function. */
export interface Ctx {
  db: Db;
  database: Database;
  config: Config;
  principal: Principal;
  requestId: string;
  /** Caller's address (for rate limits and audit), best effort. */
  ip: string;
}

/** Process-wide dependencies the app is built from. */
export interface Deps {
  database: Database;
  config: Config;
}
