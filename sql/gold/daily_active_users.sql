-- Daily active users: distinct users (user_key) with at least one event, per UTC day.
-- floe query --file sql/gold/daily_active_users.sql [--source snowplow_events]
SELECT
  CAST(tstamp AS DATE)        AS day,
  count(DISTINCT user_key)    AS active_users,
  count(*)                    AS events
FROM gold_events
WHERE user_key IS NOT NULL
GROUP BY 1
ORDER BY 1
