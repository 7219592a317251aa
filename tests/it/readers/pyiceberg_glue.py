"""Read floe's tables with pyiceberg's own GlueCatalog (Glue + S3 on the stand-in) and print what
it sees as JSON.

usage: pyiceberg_glue.py <endpoint> <database> [<optional column to count non-nulls of>]
"""
import json
import sys

from pyiceberg.catalog.glue import GlueCatalog

from iceberg_view import describe

endpoint, database = sys.argv[1], sys.argv[2]
extra_column = sys.argv[3] if len(sys.argv) > 3 else None
creds = {"access-key-id": "testing", "secret-access-key": "testing", "region": "us-east-1"}
catalog = GlueCatalog(
    "glue",
    **{"glue.endpoint": endpoint, "s3.endpoint": endpoint, "s3.force-virtual-addressing": "false"},
    **{f"glue.{k}": v for k, v in creds.items()},
    **{f"s3.{k}": v for k, v in creds.items()},
)
print(json.dumps(describe(catalog, database, extra_column)))
