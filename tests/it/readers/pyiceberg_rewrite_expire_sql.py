"""Another engine maintaining floe's table on the embedded SQL catalog: pyiceberg rewrites every
row of `events` into new files (its own overwrite snapshot, no floe summary), then expires every
other snapshot, so no snapshot floe wrote is left. Prints what it did as JSON.

usage: pyiceberg_rewrite_expire_sql.py <catalog.db> <warehouse dir>
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog

db, warehouse = sys.argv[1], sys.argv[2]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
table = catalog.load_table("floe.events")
rows = table.scan().to_arrow()
table.overwrite(rows)
table = catalog.load_table("floe.events")
head = table.current_snapshot().snapshot_id
others = [s.snapshot_id for s in table.snapshots() if s.snapshot_id != head]
table.maintenance.expire_snapshots().by_ids(others).commit()
table = catalog.load_table("floe.events")
print(json.dumps({
    "rows": rows.num_rows,
    "snapshots": [s.snapshot_id for s in table.snapshots()],
    "head_summary": dict(table.current_snapshot().summary.additional_properties),
}))
