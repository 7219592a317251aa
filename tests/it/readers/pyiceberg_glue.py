"""Read floe's tables with pyiceberg's own GlueCatalog (Glue + S3 on the stand-in) and print what
it sees as JSON.

usage: pyiceberg_glue.py <endpoint> <database> [<optional column to count non-nulls of>]
"""
import json
import sys
from collections import Counter

from pyiceberg.catalog.glue import GlueCatalog

endpoint, database = sys.argv[1], sys.argv[2]
extra_column = sys.argv[3] if len(sys.argv) > 3 else None
creds = {"access-key-id": "testing", "secret-access-key": "testing", "region": "us-east-1"}
catalog = GlueCatalog(
    "glue",
    **{"glue.endpoint": endpoint, "s3.endpoint": endpoint, "s3.force-virtual-addressing": "false"},
    **{f"glue.{k}": v for k, v in creds.items()},
    **{f"s3.{k}": v for k, v in creds.items()},
)
events = catalog.load_table(f"{database}.events")
bad = catalog.load_table(f"{database}.events_bad")
ev = events.scan().to_arrow()
bd = bad.scan().to_arrow()
# floe keeps each shard's watermark in the summaries of its own snapshots; other writers' snapshots
# (pyiceberg appends) carry none, so a shard's watermark is the latest one in the ancestry.
watermarks = {}
snap = events.current_snapshot()
while snap is not None:
    for k, v in snap.summary.additional_properties.items():
        if k.startswith("floe.watermark.") and k not in watermarks:
            watermarks[k] = v
    snap = events.snapshot_by_id(snap.parent_snapshot_id) if snap.parent_snapshot_id else None
out = {
    "tables": sorted(".".join(t) for t in catalog.list_tables(database)),
    "metadata_location": events.metadata_location,
    "events_rows": ev.num_rows,
    "events_distinct_ids": len(set(ev.column("event_id").to_pylist())),
    "event_ids": sorted(ev.column("event_id").to_pylist()),
    "bad_rows": bd.num_rows,
    "bad_by_reason": dict(Counter(bd.column("reason").to_pylist())),
    "watermarks": watermarks,
    "snapshots": len(events.metadata.snapshots),
    "schema": [f.name for f in events.schema().fields],
}
if extra_column:
    values = ev.column(extra_column).to_pylist() if extra_column in ev.column_names else []
    out["extra_non_null"] = sum(v is not None for v in values)
    out["extra_null"] = sum(v is None for v in values)
print(json.dumps(out))
