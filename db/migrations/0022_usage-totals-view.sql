-- Hand SQL (docs/scaling.md, "Rollup deltas"): the same sums per key as before, without aggregating
-- the folded side. Every folded key has one row in usage_month_rollups (its primary key), so only
-- the pending deltas need summing: each rollup row gets its key's pending deltas added (a left join
-- on the whole key to the deltas summed per key), and keys that have only deltas so far follow.
-- Conditions on the key columns still reach the rollups' key in the first branch and the deltas in
-- both; a reader that selects only key columns no longer computes any sum (the left join to a
-- relation unique on the join key is removed). One statement reads both tables from one snapshot,
-- so a fold committing meanwhile neither hides nor doubles anything.
CREATE OR REPLACE VIEW "usage_month_totals" AS
SELECT r."org_id", r."agent_id", r."model", r."month",
       (r."events" + coalesce(d."events", 0))::bigint AS "events",
       (r."unpriced_events" + coalesce(d."unpriced_events", 0))::bigint AS "unpriced_events",
       (r."input_tokens" + coalesce(d."input_tokens", 0))::bigint AS "input_tokens",
       (r."output_tokens" + coalesce(d."output_tokens", 0))::bigint AS "output_tokens",
       (r."cache_read_tokens" + coalesce(d."cache_read_tokens", 0))::bigint AS "cache_read_tokens",
       (r."cache_write_tokens" + coalesce(d."cache_write_tokens", 0))::bigint AS "cache_write_tokens",
       (r."cost_usd" + coalesce(d."cost_usd", 0))::numeric(38, 18) AS "cost_usd"
FROM "usage_month_rollups" r
LEFT JOIN (
  SELECT "org_id", "agent_id", "model", "month",
         sum("events") AS "events", sum("unpriced_events") AS "unpriced_events",
         sum("input_tokens") AS "input_tokens", sum("output_tokens") AS "output_tokens",
         sum("cache_read_tokens") AS "cache_read_tokens", sum("cache_write_tokens") AS "cache_write_tokens",
         sum("cost_usd") AS "cost_usd"
  FROM "usage_month_deltas"
  GROUP BY "org_id", "agent_id", "model", "month"
) d ON d."org_id" = r."org_id" AND d."agent_id" = r."agent_id" AND d."model" = r."model" AND d."month" = r."month"
UNION ALL
SELECT d."org_id", d."agent_id", d."model", d."month",
       sum(d."events")::bigint, sum(d."unpriced_events")::bigint,
       sum(d."input_tokens")::bigint, sum(d."output_tokens")::bigint,
       sum(d."cache_read_tokens")::bigint, sum(d."cache_write_tokens")::bigint,
       sum(d."cost_usd")::numeric(38, 18)
FROM "usage_month_deltas" d
WHERE NOT EXISTS (
  SELECT 1 FROM "usage_month_rollups" f
  WHERE f."org_id" = d."org_id" AND f."agent_id" = d."agent_id" AND f."model" = d."model" AND f."month" = d."month"
)
GROUP BY d."org_id", d."agent_id", d."model", d."month";
