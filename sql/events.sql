-- sql/events.sql — validate and normalise one micro-batch for table `events`.
--
-- Inputs (registered by floe):
--   bronze     one row per bronze record: _ord (read order), _error/_error_detail (what the decoder
--              found: invalid_utf8, invalid_json, not_an_object, empty_record, record_too_large,
--              missing_field, wrong_type), lineage (shard_id, sequence_number, sub_sequence,
--              arrival_ts), and one text column per input field of catalog/events.toml + `extra`.
--   committed  kept for transforms written against it; empty now — re-sends are dropped by floe
--              after this transform: later copies of an id in the batch (duplicate_in_batch) and ids
--              already committed (duplicate_committed, against its dedup state; docs/adr/0012).
--
-- Output: exactly one row per bronze row. floe_reason is NULL for a row to keep; a reason starting
-- with `duplicate` is a counted dedup drop; any other reason sends the record to `events_bad`.
WITH typed AS (
  SELECT
    _ord, _error, _error_detail, shard_id, sequence_number, sub_sequence,
    lower(trim(event_id))                                   AS event_id,
    collector_tstamp                                        AS collector_tstamp_text,
    TRY_CAST(collector_tstamp AS TIMESTAMP)                 AS collector_ts,
    dvce_created_tstamp                                     AS dvce_created_tstamp_text,
    TRY_CAST(dvce_created_tstamp AS TIMESTAMP)              AS dvce_ts,
    trim(event)                                             AS event,
    lower(trim(platform))                                   AS platform,
    nullif(trim(app_id), '')                                AS app_id,
    nullif(trim(user_id), '')                               AS user_id,
    nullif(trim(domain_userid), '')                         AS domain_userid,
    nullif(trim(domain_sessionid), '')                      AS domain_sessionid,
    page_url, page_title, page_referrer, useragent,
    nullif(trim(br_lang), '')                               AS br_lang,
    upper(nullif(trim(geo_country), ''))                    AS geo_country,
    contexts, unstruct_event, extra
  FROM bronze
),
shaped AS (
  -- each pattern is matched once per row (the CASEs below read the results twice)
  SELECT *,
    regexp_like(event_id, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') AS event_id_ok,
    regexp_like(collector_tstamp_text, '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$')
      AND collector_ts IS NOT NULL AS collector_ok,
    dvce_created_tstamp_text IS NULL OR (dvce_ts IS NOT NULL AND regexp_like(dvce_created_tstamp_text,
      '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$')) AS dvce_ok
  FROM typed
),
checked AS (
  SELECT *,
    CASE
      WHEN _error IS NOT NULL THEN _error
      WHEN NOT event_id_ok THEN 'invalid_uuid'
      WHEN NOT collector_ok THEN 'invalid_timestamp'
      WHEN NOT dvce_ok THEN 'invalid_timestamp'
      WHEN event = '' THEN 'missing_field'
      WHEN platform = '' THEN 'missing_field'
    END AS reason,
    CASE
      WHEN _error IS NOT NULL THEN _error_detail
      WHEN NOT event_id_ok THEN 'event_id: ' || event_id
      WHEN NOT collector_ok THEN 'collector_tstamp: ' || collector_tstamp_text
      WHEN NOT dvce_ok THEN 'dvce_created_tstamp: ' || dvce_created_tstamp_text
      WHEN event = '' THEN 'event is empty'
      WHEN platform = '' THEN 'platform is empty'
    END AS detail
  FROM shaped
)
-- Re-sends are not this transform's business: floe drops the later copies of an id within the
-- batch (duplicate_in_batch) and the ids committed already (duplicate_committed) after it runs.
SELECT
  _ord,
  reason                              AS floe_reason,
  detail                              AS floe_detail,
  event_id,
  collector_ts                        AS collector_tstamp,
  event,
  platform,
  app_id,
  dvce_ts                             AS dvce_created_tstamp,
  user_id, domain_userid, domain_sessionid,
  page_url, page_title, page_referrer, useragent, br_lang, geo_country,
  contexts, unstruct_event, extra,
  now()                               AS load_tstamp,
  shard_id                            AS source_shard_id,
  sequence_number                     AS source_sequence_number,
  sub_sequence                        AS source_sub_sequence
FROM checked
