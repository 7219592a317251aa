"""Another writer deleting rows of floe's `events` on the embedded SQL catalog with pyiceberg
(its own snapshot; whole files dropped, partly matching ones rewritten). Prints the new count.

usage: pyiceberg_delete_sql.py <catalog.db> <warehouse dir> <row filter, pyiceberg syntax>
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog

db, warehouse, row_filter = sys.argv[1], sys.argv[2], sys.argv[3]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
table = catalog.load_table("floe.events")
table.delete(row_filter)
table = catalog.load_table("floe.events")
print(json.dumps({"rows": table.scan().to_arrow().num_rows}))
