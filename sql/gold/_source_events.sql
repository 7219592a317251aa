-- gold_events over table `events` (JSON events): one row per event, in the names every model in
-- sql/gold/ reads. The product is the first "sku" in the event's self-describing JSON.
SELECT
  event_id,
  collector_tstamp                                    AS tstamp,
  coalesce(user_id, domain_userid)                    AS user_key,
  CASE event
    WHEN 'purchase' THEN 'checkout'
    WHEN 'link_click' THEN 'click'
    ELSE event
  END                                                 AS event_name,
  page_url,
  regexp_match(coalesce(unstruct_event, '') || coalesce(contexts, ''), '"sku"\s*:\s*"([^"]+)"')[1] AS product
FROM events
