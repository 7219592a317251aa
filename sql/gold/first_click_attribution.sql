-- First-click attribution: for each checkout of a product, the user's earliest click on that
-- product in the hour before it (NULL: no click in that hour — direct). Ties by page URL.
-- floe query --file sql/gold/first_click_attribution.sql [--source snowplow_events]
WITH checkouts AS (
  SELECT event_id, user_key, product, tstamp
  FROM gold_events
  WHERE event_name = 'checkout' AND product IS NOT NULL AND user_key IS NOT NULL
),
clicks AS (
  SELECT user_key, product, tstamp, page_url
  FROM gold_events
  WHERE event_name = 'click' AND product IS NOT NULL
),
ranked AS (
  SELECT
    k.event_id AS checkout_id, k.user_key, k.product, k.tstamp AS checkout_tstamp,
    c.tstamp AS first_click_tstamp, c.page_url AS first_click_page_url,
    row_number() OVER (PARTITION BY k.event_id ORDER BY c.tstamp, c.page_url) AS n
  FROM checkouts k
  LEFT JOIN clicks c
    ON c.user_key = k.user_key AND c.product = k.product
   AND c.tstamp <= k.tstamp AND c.tstamp >= k.tstamp - INTERVAL '1 hour'
)
SELECT checkout_id, user_key, product, checkout_tstamp, first_click_tstamp, first_click_page_url
FROM ranked
WHERE n = 1
ORDER BY checkout_tstamp, checkout_id
