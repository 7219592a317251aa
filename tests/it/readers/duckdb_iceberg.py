"""Athena/Trino stand-in: DuckDB's iceberg extension reads a table from the metadata file Glue
points at, over S3 on the stand-in. The extensions come from PyPI and are loaded by file path
(they cannot be downloaded at run time here).

usage: duckdb_iceberg.py <endpoint> <metadata_location> [<optional column to count non-nulls of>]
"""
import json
import sys
from pathlib import Path

import duckdb
import duckdb_extension_avro
import duckdb_extension_httpfs
import duckdb_extension_iceberg

endpoint, metadata_location = sys.argv[1], sys.argv[2]
extra_column = sys.argv[3] if len(sys.argv) > 3 else None
con = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"})
for module, name in ((duckdb_extension_httpfs, "httpfs"), (duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
    path = next(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))
    con.execute(f"LOAD '{path}'")
host = endpoint.split("://", 1)[1]
con.execute(
    "CREATE SECRET stand_in (TYPE s3, KEY_ID 'testing', SECRET 'testing', REGION 'us-east-1', "
    f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL {str(endpoint.startswith('https')).lower()})"
)
scan = f"iceberg_scan('{metadata_location}')"
rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT event_id) FROM {scan}").fetchone()
out = {"rows": rows, "distinct_ids": distinct}
columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
out["columns"] = columns
if extra_column:
    nn, n = con.execute(f"SELECT count({extra_column}), count(*) FROM {scan}").fetchone() if extra_column in columns else (0, rows)
    out["extra_non_null"], out["extra_null"] = nn, n - nn
print(json.dumps(out))
