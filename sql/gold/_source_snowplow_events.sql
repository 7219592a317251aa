-- gold_events over table `snowplow_events` (Snowplow enriched events): one row per event, in the
-- names every model in sql/gold/ reads. The business user id when there is one, else the
-- first-party cookie, else the collector's; the event's schema name (`link_click` → `click`); the
-- product is the first "sku" in the unstruct event or the contexts.
SELECT
  event_id,
  collector_tstamp                                    AS tstamp,
  coalesce(user_id, domain_userid, network_userid)    AS user_key,
  CASE
    WHEN event_name = 'link_click' THEN 'click'
    ELSE coalesce(event_name, event)
  END                                                 AS event_name,
  page_url,
  regexp_match(coalesce(unstruct_event, '') || coalesce(contexts, ''), '"sku"\s*:\s*"([^"]+)"')[1] AS product
FROM snowplow_events
