-- Sessions: a user's events split where 30 minutes pass without one; each session with its start,
-- end, duration, events and page views. Ties in time are ordered by event id, so the split is the
-- same on every run.
-- floe query --file sql/gold/sessions.sql [--source snowplow_events]
WITH gaps AS (
  SELECT
    user_key, event_id, tstamp, event_name,
    date_part('epoch', tstamp)
      - date_part('epoch', lag(tstamp) OVER (PARTITION BY user_key ORDER BY tstamp, event_id)) AS gap_s
  FROM gold_events
  WHERE user_key IS NOT NULL
),
numbered AS (
  SELECT *,
    sum(CASE WHEN gap_s IS NULL OR gap_s > 1800 THEN 1 ELSE 0 END)
      OVER (PARTITION BY user_key ORDER BY tstamp, event_id ROWS UNBOUNDED PRECEDING) AS session_index
  FROM gaps
)
SELECT
  user_key,
  session_index,
  min(tstamp)                                                      AS session_start,
  max(tstamp)                                                      AS session_end,
  CAST(date_part('epoch', max(tstamp)) - date_part('epoch', min(tstamp)) AS BIGINT) AS duration_s,
  count(*)                                                         AS events,
  sum(CASE WHEN event_name = 'page_view' THEN 1 ELSE 0 END)        AS page_views
FROM numbered
GROUP BY user_key, session_index
ORDER BY user_key, session_index
