"""Compare what floe committed to `snowplow_events` with what Snowplow's own Python analytics SDK
(PyPI snowplow-analytics-sdk) makes of the same enriched-event lines, field by field.

For every line of every spool file: the SDK's transformer runs on it; floe's table is read back
through pyiceberg (the catalog's pointer, a scan of the data). A line the SDK accepts must be a row
whose every field the SDK emits has the same value in floe's type (timestamps as instants, money
within half a cent of the SDK's double, the self-describing JSON shredded by the SDK's own
json_shredder from the text floe kept), and whose other atomic columns are NULL — or a bad row with
a reason floe is stricter about (printed). A line the SDK rejects must be a bad row.

usage: snowplow_sdk_compare.py <catalog.db> <warehouse dir> <spool dir>
prints JSON: counts, mismatches (first 50), the outcome of every line by file and line number.
"""
import datetime
import decimal
import json
import os
import sys
from collections import Counter

from pyiceberg.catalog.sql import SqlCatalog
from snowplow_analytics_sdk import event_transformer, json_shredder
from snowplow_analytics_sdk.snowplow_event_transformation_exception import SnowplowEventTransformationException

db, warehouse, spool = sys.argv[1], sys.argv[2], sys.argv[3]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
rows = catalog.load_table("floe.snowplow_events").scan().to_arrow().to_pylist()
bad = catalog.load_table("floe.snowplow_events_bad").scan().to_arrow().to_pylist()
by_id = {}
for r in rows:
    by_id.setdefault(r["event_id"], []).append(r)
bad_reason = {}
for b in bad:
    bad_reason.setdefault(b["raw"], []).append(b["reason"])

ATOMIC = [name for name, _ in event_transformer.ENRICHED_EVENT_FIELD_TYPES]
MONEY = {"tr_total", "tr_tax", "tr_shipping", "ti_price", "tr_total_base", "tr_tax_base", "tr_shipping_base", "ti_price_base"}
SHREDDED = ("contexts", "unstruct_event", "derived_contexts")

mismatches = []
fields_compared = 0


def mismatch(where, key, sdk_value, floe_value):
    if len(mismatches) < 50:
        mismatches.append({"line": where, "field": key, "sdk": repr(sdk_value), "floe": repr(floe_value)})


def shredded_by_sdk(row):
    """The SDK's own shredding of the JSON text floe kept, in the SDK's field order."""
    out = {}
    for col in SHREDDED:
        text = row[col]
        if text is None:
            continue
        pairs = json_shredder.parse_unstruct(text) if col == "unstruct_event" else json_shredder.parse_contexts(text)
        out.update(dict(pairs))
    return out


def compare(where, sdk, row):
    global fields_compared
    sdk_shredded = {}
    for key, value in sdk.items():
        if key.startswith(("contexts_", "unstruct_event_")):
            sdk_shredded[key] = value
            continue
        if key == "geo_location":
            lat, lon = value.split(",")
            got = (row["geo_latitude"], row["geo_longitude"])
            ok = got == (float(lat), float(lon))
        else:
            got = row[key]
            if key == "event_id":
                ok = got == value.lower()
            elif key in MONEY:
                ok = isinstance(got, decimal.Decimal) and abs(got - decimal.Decimal(repr(value))) <= decimal.Decimal("0.005")
            elif key == "se_value":  # the SDK keeps it as text; Snowplow's loaders type it double
                ok = got == float(value)
            elif isinstance(value, bool):
                ok = got is value
            elif isinstance(value, int):
                ok = type(got) is int and got == value
            elif isinstance(value, float):
                ok = type(got) is float and got == value
            elif key.endswith("_tstamp"):
                ok = isinstance(got, datetime.datetime) and got == datetime.datetime.fromisoformat(value)
            else:
                ok = got == value
        fields_compared += 1
        if not ok:
            mismatch(where, key, value, got)
    floe_shredded = shredded_by_sdk(row)
    fields_compared += 1
    if floe_shredded != sdk_shredded:
        mismatch(where, "contexts/unstruct_event/derived_contexts", sdk_shredded, floe_shredded)
    for key in ATOMIC:
        if key not in sdk and key not in SHREDDED and row[key] is not None:
            mismatch(where, key, None, row[key])


outcomes = {}
counts = Counter()
floe_stricter = Counter()
for name in sorted(os.listdir(spool)):
    if name.startswith("."):
        continue
    with open(os.path.join(spool, name), "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, raw in enumerate(lines, start=1):
        where = f"{name}:{n}"
        try:
            sdk = event_transformer.transform(raw.decode("utf-8"))
            sdk_error = None
        except UnicodeDecodeError:
            sdk, sdk_error = None, "not UTF-8"
        except SnowplowEventTransformationException as e:
            sdk, sdk_error = None, "; ".join(e.error_messages)
        reasons = bad_reason.get(raw, [])
        if sdk is None:
            counts["sdk_rejected"] += 1
            if reasons:
                outcome = "bad:" + reasons[0]
            else:
                outcome = "missing"
                mismatch(where, "(line)", f"rejected: {sdk_error}", "not a bad row")
        else:
            counts["sdk_accepted"] += 1
            eid = sdk.get("event_id", "").lower()
            found = by_id.get(eid, [])
            if len(found) == 1:
                outcome = "row"
                compare(where, sdk, found[0])
            elif len(found) > 1:
                outcome = "doubled"
                mismatch(where, "event_id", eid, f"{len(found)} rows")
            elif reasons:
                outcome = "bad:" + reasons[0]
                floe_stricter[reasons[0]] += 1
            else:
                outcome = "missing"
                mismatch(where, "(line)", "accepted", "neither a row nor a bad row")
        counts[outcome.split(":")[0]] += 1
        outcomes[where] = outcome

print(json.dumps({
    "counts": dict(counts),
    "rows": len(rows),
    "bad_rows": len(bad),
    "fields_compared": fields_compared,
    "floe_stricter": dict(floe_stricter),
    "mismatches": mismatches,
    "outcomes": outcomes,
}))
