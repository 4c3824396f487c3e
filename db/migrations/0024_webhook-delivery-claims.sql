ALTER TABLE "webhook_deliveries" ADD COLUMN "claim_token" uuid;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "claimed_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "manual_attempt" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
-- A delivery is its own queue entry (docs/guardrails.md, "Delivery and retries"); there is no job
-- per delivery any more. Attempts queued as jobs of kind `webhook.deliver` by an earlier version
-- carry over to their deliveries: a queued job's time becomes the delivery's next attempt, a
-- running job's claim and lease become the delivery's (its attempt is made again once the lease
-- runs out, with the same webhook-id), and a manual retry stays manual. Then those jobs go.
UPDATE "webhook_deliveries" AS d
   SET "next_attempt_at" = coalesce(j.queued_at, d."next_attempt_at", now()),
       "claim_token" = j.claim,
       "claimed_until" = j.claimed_until,
       "manual_attempt" = j.manual
  FROM (
    SELECT ("payload"->>'delivery_id')::uuid AS delivery_id,
           min("run_at") FILTER (WHERE "state" = 'queued') AS queued_at,
           (array_agg("claim" ORDER BY "locked_until" DESC) FILTER (WHERE "state" = 'running'))[1] AS claim,
           max("locked_until") FILTER (WHERE "state" = 'running') AS claimed_until,
           coalesce(bool_or(("payload"->>'manual')::boolean) FILTER (WHERE "state" IN ('queued', 'running')), false) AS manual
      FROM "jobs"
     WHERE "kind" = 'webhook.deliver' AND "state" IN ('queued', 'running')
     GROUP BY 1
  ) AS j
 WHERE d."id" = j.delivery_id AND d."status" = 'pending';
--> statement-breakpoint
DELETE FROM "jobs" WHERE "kind" = 'webhook.deliver';
--> statement-breakpoint
-- Wakes idle job runners when a transaction that wrote a due delivery commits, as jobs_notify does
-- for jobs (same channel; runners also poll).
CREATE FUNCTION "webhook_deliveries_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM inserted WHERE status = 'pending' AND next_attempt_at <= now()) THEN
    PERFORM pg_notify('orgdesk_jobs', '');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "webhook_deliveries_notify" AFTER INSERT ON "webhook_deliveries"
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION "webhook_deliveries_notify"();
