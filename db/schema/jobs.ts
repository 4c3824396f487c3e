import { sql } from "drizzle-orm";
import { bigserial, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { instant } from "./columns";

/**
 * Background work as data (docs/architecture.md, "Background jobs"): a transactional outbox that
 * any instance claims with `FOR UPDATE SKIP LOCKED`. A job is inserted in the transaction of the
 * change that needs it, so it exists exactly when the change committed; it is deleted when done.
 */
export const jobs = pgTable(
  "jobs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    /** What to run, e.g. `webhook.deliver` (server/jobs/kinds.ts). */
    kind: text("kind").notNull(),
    payload: jsonb("payload").notNull(),
    /** `queued` (waiting for run_at), `running` (claimed until locked_until) or `failed` (gave up; kept for inspection). */
    state: text("state").notNull().default("queued"),
    /** Earliest time the job may run: delayed jobs and retries set it in the future. */
    runAt: instant("run_at").notNull().defaultNow(),
    /** Claims since the job was queued or last rescheduled by its handler; counts against the kind's retry schedule. */
    attempts: integer("attempts").notNull().default(0),
    /** At most one queued job per kind and key: enqueueing a key that is already queued moves it earlier instead. */
    key: text("key"),
    /** Token of the current claim: only its holder can complete or reschedule the job. */
    claim: uuid("claim"),
    /** Instance that holds the claim (for inspection). */
    lockedBy: text("locked_by"),
    /** End of the current claim's lease; a running job past it is claimed again (its instance stopped). */
    lockedUntil: instant("locked_until"),
    lastError: text("last_error"),
    createdAt: instant("created_at").notNull().defaultNow(),
    failedAt: instant("failed_at"),
  },
  (t) => [
    index("jobs_due_idx").on(t.runAt, t.id).where(sql`${t.state} = 'queued'`),
    index("jobs_lease_idx").on(t.lockedUntil).where(sql`${t.state} = 'running'`),
    uniqueIndex("jobs_queued_key").on(t.kind, t.key).where(sql`${t.state} = 'queued'`),
    check("jobs_state_check", sql`${t.state} in ('queued', 'running', 'failed')`),
  ],
);

/**
 * Periodic jobs: one row per kind. An instance that advances `next_run_at` past now (a single
 * conditional UPDATE) enqueues that period's job, so each period runs once across all instances.
 */
export const jobSchedules = pgTable("job_schedules", {
  kind: text("kind").primaryKey(),
  /** Length of the period, milliseconds. */
  everyMs: integer("every_ms").notNull(),
  nextRunAt: instant("next_run_at").notNull(),
});
