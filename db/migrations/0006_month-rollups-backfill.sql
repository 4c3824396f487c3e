-- Monthly rollups start from the daily ones (which equal the raw events), in the same migration
-- run that drops the daily table next.
INSERT INTO "usage_month_rollups" ("org_id", "agent_id", "model", "month", "events", "unpriced_events", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")
SELECT "org_id", "agent_id", "model", date_trunc('month', "day")::date, sum("events"), sum("unpriced_events"),
       sum("input_tokens"), sum("output_tokens"), sum("cache_read_tokens"), sum("cache_write_tokens"), sum("cost_usd")
FROM "usage_rollups"
GROUP BY 1, 2, 3, 4;
