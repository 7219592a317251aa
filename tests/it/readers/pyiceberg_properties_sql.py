"""A table's properties as pyiceberg sees them on the embedded SQL catalog, after removing the
keys given (another engine's ALTER TABLE ... UNSET TBLPROPERTIES).

usage: pyiceberg_properties_sql.py <catalog.db> <warehouse dir> <table> [key to remove ...]
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog

db, warehouse, name, *remove = sys.argv[1:]
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
table = catalog.load_table(f"floe.{name}")
if remove:
    with table.transaction() as tx:
        tx.remove_properties(*remove)
    table = catalog.load_table(f"floe.{name}")
print(json.dumps(dict(table.properties)))
