-- Funnel per UTC day: users who viewed a page; of them, who added to cart after their first page
-- view; of those, who checked out after their first add-to-cart (the same day).
-- floe query --file sql/gold/funnel.sql [--source snowplow_events]
WITH viewed AS (
  SELECT CAST(tstamp AS DATE) AS day, user_key, min(tstamp) AS at
  FROM gold_events
  WHERE event_name = 'page_view' AND user_key IS NOT NULL
  GROUP BY 1, 2
),
carted AS (
  SELECT v.day, v.user_key, min(e.tstamp) AS at
  FROM viewed v
  JOIN gold_events e
    ON e.user_key = v.user_key AND e.event_name = 'add_to_cart'
   AND CAST(e.tstamp AS DATE) = v.day AND e.tstamp >= v.at
  GROUP BY 1, 2
),
checked_out AS (
  SELECT c.day, c.user_key
  FROM carted c
  JOIN gold_events e
    ON e.user_key = c.user_key AND e.event_name = 'checkout'
   AND CAST(e.tstamp AS DATE) = c.day AND e.tstamp >= c.at
  GROUP BY 1, 2
)
SELECT
  v.day,
  count(*)                                                        AS viewed,
  count(c.user_key)                                               AS added_to_cart,
  count(k.user_key)                                               AS checked_out,
  round(100.0 * count(k.user_key) / count(*), 1)                  AS conversion_pct
FROM viewed v
LEFT JOIN carted c ON c.day = v.day AND c.user_key = v.user_key
LEFT JOIN checked_out k ON k.day = v.day AND k.user_key = v.user_key
GROUP BY v.day
ORDER BY v.day
