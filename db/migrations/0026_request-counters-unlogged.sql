-- Hand SQL (docs/api.md, "Rate limits"): the rate-limit and sign-in counters are unlogged. They
-- are updated on every request, and a logged table made each of those commits wait for a WAL flush
-- and sent every count to the standbys, which never read them. After a crash PostgreSQL empties an
-- unlogged table, so every window starts again: a bounded loss for counters of minutes. Drizzle's
-- schema cannot say "unlogged", so the schema diff of this migration is empty.
ALTER TABLE "request_counters" SET UNLOGGED;
