"""Another writer on floe's embedded SQL catalog: append rows with the given event ids to `events`
with pyiceberg (its own snapshot, no floe summary), and print the new snapshot id.

usage: pyiceberg_append_sql.py <catalog.db> <warehouse dir> <collector_tstamp ISO> <event_id>...
"""
import datetime
import json
import sys

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

db, warehouse, ts, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
table = catalog.load_table("floe.events")
schema = table.schema().as_arrow()
when = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
n = len(ids)
columns = {}
for field in schema:
    name = field.name
    if name == "event_id":
        columns[name] = ids
    elif name in ("collector_tstamp", "load_tstamp"):
        columns[name] = [when] * n
    elif name in ("event", "platform", "source_shard_id", "source_sequence_number"):
        columns[name] = ["other-writer"] * n
    elif name == "source_sub_sequence":
        columns[name] = [0] * n
    else:
        columns[name] = [None] * n
table.append(pa.Table.from_pydict(columns, schema=schema))
print(json.dumps({"snapshot_id": table.current_snapshot().snapshot_id}))
