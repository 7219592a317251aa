"""What pyiceberg sees of floe's two tables through any pyiceberg catalog, as a dict for JSON
(shared by pyiceberg_glue.py and pyiceberg_rest.py)."""
from collections import Counter


def describe(catalog, namespace, extra_column=None):
    events = catalog.load_table(f"{namespace}.events")
    bad = catalog.load_table(f"{namespace}.events_bad")
    ev = events.scan().to_arrow()
    bd = bad.scan().to_arrow()
    # floe keeps each shard's watermark in the summaries of its own snapshots; other writers'
    # snapshots (pyiceberg appends) carry none, so a shard's watermark is the latest one in the
    # ancestry.
    watermarks = {}
    snap = events.current_snapshot()
    while snap is not None:
        for k, v in snap.summary.additional_properties.items():
            if k.startswith("floe.watermark.") and k not in watermarks:
                watermarks[k] = v
        snap = events.snapshot_by_id(snap.parent_snapshot_id) if snap.parent_snapshot_id else None
    out = {
        "tables": sorted(".".join(t) for t in catalog.list_tables(namespace)),
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
    return out
