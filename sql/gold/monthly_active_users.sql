-- Monthly active users: distinct users with at least one event, per UTC calendar month.
-- floe query --file sql/gold/monthly_active_users.sql [--source snowplow_events]
SELECT
  CAST(date_trunc('month', tstamp) AS DATE) AS month,
  count(DISTINCT user_key)                  AS active_users,
  count(*)                                  AS events
FROM gold_events
WHERE user_key IS NOT NULL
GROUP BY 1
ORDER BY 1
