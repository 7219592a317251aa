"""The per-schema columns of floe's snowplow_events table as two readers we did not write see
them: pyiceberg (through the SQL catalog's pointer) and DuckDB's iceberg extension (reading the
metadata file that pointer names). Values are printed as JSON text so the two can be compared.

usage: entity_columns.py <catalog.db> <warehouse dir>
prints JSON: {"types": {column: pyiceberg type}, "pyiceberg": {event_id: {column: value}},
              "duckdb": {event_id: {column: value}}, "bad": [[reason, detail], ...]}
"""
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import duckdb_extension_avro
import duckdb_extension_iceberg
from pyiceberg.catalog.sql import SqlCatalog

db, warehouse = sys.argv[1:3]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
table = catalog.load_table("floe.snowplow_events")
columns = [f.name for f in table.schema().fields if f.name.startswith(("contexts_", "unstruct_event_"))]
types = {f.name: str(f.field_type) for f in table.schema().fields if f.name in columns}


def plain(o):
    if isinstance(o, datetime):
        return o.astimezone(timezone.utc).isoformat()
    return str(o)


def text(v):
    return json.dumps(v, default=plain, sort_keys=True)


rows = table.scan(selected_fields=("event_id", *columns)).to_arrow().to_pylist()
py = {r["event_id"]: {c: text(r[c]) for c in columns} for r in rows}

con = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"})
for module, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
    path = next(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))
    con.execute(f"LOAD '{path}'")
location = table.metadata_location.removeprefix("file://")
select = ", ".join(["event_id", *[f'"{c}"' for c in columns]])
result = con.execute(f"SELECT {select} FROM iceberg_scan('{location}')")
names = [d[0] for d in result.description]
duck = {}
for r in result.fetchall():
    r = dict(zip(names, r))
    duck[r["event_id"]] = {c: text(r[c]) for c in columns}

bad = catalog.load_table("floe.snowplow_events_bad").scan(selected_fields=("reason", "detail")).to_arrow()
print(json.dumps({
    "types": types,
    "pyiceberg": py,
    "duckdb": duck,
    "bad": sorted([r["reason"], r["detail"]] for r in bad.to_pylist()),
}))
