"""Read floe's tables with pyiceberg through the same SQLite catalog, and print what it sees as JSON.

usage: pyiceberg_read.py <catalog.db> <warehouse dir>
"""
import json
import sys
from collections import Counter

from pyiceberg.catalog.sql import SqlCatalog

db, warehouse = sys.argv[1], sys.argv[2]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
events = catalog.load_table("floe.events")
bad = catalog.load_table("floe.events_bad")
ev = events.scan().to_arrow()
bd = bad.scan().to_arrow()
snap = events.current_snapshot()
props = dict(snap.summary.additional_properties) if snap else {}
# A snapshot's lease epochs cover the shards of its own batch: the latest per shard in the ancestry.
lease_epochs = {}
s = snap
while s is not None:
    for k, v in s.summary.additional_properties.items():
        if k.startswith("floe.lease-epoch.") and k not in lease_epochs:
            lease_epochs[k] = v
    s = events.snapshot_by_id(s.parent_snapshot_id) if s.parent_snapshot_id else None

def live_files(table):
    return [t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()]

print(json.dumps({
    "tables": sorted(".".join(t) for t in catalog.list_tables("floe")),
    "events_rows": ev.num_rows,
    "events_distinct_ids": len(set(ev.column("event_id").to_pylist())),
    "event_ids": sorted(ev.column("event_id").to_pylist()),
    "bad_rows": bd.num_rows,
    "bad_by_reason": dict(Counter(bd.column("reason").to_pylist())),
    "watermarks": {k: v for k, v in props.items() if k.startswith("floe.watermark.")},
    "lease_epochs": lease_epochs,
    "data_files": {"events": live_files(events), "events_bad": live_files(bad)},
    "schema": [f.name for f in events.schema().fields],
    "events_manifests": len(snap.manifests(events.io)) if snap else 0,
    "events_snapshots": len(events.metadata.snapshots),
    "events_summary_totals": {k: props.get(k) for k in ("total-records", "total-data-files")},
}))
