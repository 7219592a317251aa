"""Read floe's data files with DuckDB (no Iceberg metadata involved) and print counts as JSON.

usage: duckdb_read.py <file-list.json>   (JSON: {"events": [paths], "events_bad": [paths]})
"""
import json
import sys

import duckdb

files = json.load(open(sys.argv[1]))
con = duckdb.connect()
def q(sql, paths):
    return con.execute(sql, [paths]).fetchall()
ev = files["events"]
bad = files["events_bad"]
rows, distinct = q("SELECT count(*), count(DISTINCT event_id) FROM read_parquet(?)", ev)[0]
null_required = q("SELECT count(*) FROM read_parquet(?) WHERE event_id IS NULL OR collector_tstamp IS NULL", ev)[0][0]
by_reason = dict(q("SELECT reason, count(*) FROM read_parquet(?) GROUP BY reason", bad)) if bad else {}
print(json.dumps({
    "events_rows": rows,
    "events_distinct_ids": distinct,
    "null_required": null_required,
    "bad_rows": sum(by_reason.values()),
    "bad_by_reason": by_reason,
}))
