-- User dimension: when each user was first and last seen, on how many days, with how many events
-- and page views.
-- floe query --file sql/gold/users.sql [--source snowplow_events]
SELECT
  user_key,
  min(tstamp)                                               AS first_seen,
  max(tstamp)                                               AS last_seen,
  count(DISTINCT CAST(tstamp AS DATE))                      AS active_days,
  count(*)                                                  AS events,
  sum(CASE WHEN event_name = 'page_view' THEN 1 ELSE 0 END) AS page_views
FROM gold_events
WHERE user_key IS NOT NULL
GROUP BY user_key
ORDER BY user_key
