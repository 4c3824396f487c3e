-- Wakes idle job runners as soon as a transaction that enqueued a due job commits (NOTIFY is
-- delivered at commit, never for a rolled-back transaction). One notification per statement;
-- runners also poll, so a lost notification (or a pooler without LISTEN) only delays a job.
CREATE FUNCTION "jobs_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM inserted WHERE run_at <= now()) THEN
    PERFORM pg_notify('orgdesk_jobs', '');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "jobs_notify" AFTER INSERT ON "jobs"
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION "jobs_notify"();
