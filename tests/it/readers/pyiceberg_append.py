"""A second, independent writer: append rows to floe's Glue table with pyiceberg, committing
through Glue's VersionId check like floe does, and report what was acknowledged.

usage: pyiceberg_append.py <endpoint> <database> <table> <commits> <rows per commit> <id prefix>
"""
import datetime
import json
import sys
import time

import pyarrow as pa
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.exceptions import CommitFailedException

endpoint, database, table_name, commits, per_commit, prefix = sys.argv[1:7]
commits, per_commit = int(commits), int(per_commit)
creds = {"access-key-id": "testing", "secret-access-key": "testing", "region": "us-east-1"}
catalog = GlueCatalog(
    "glue",
    **{"glue.endpoint": endpoint, "s3.endpoint": endpoint, "s3.force-virtual-addressing": "false"},
    **{f"glue.{k}": v for k, v in creds.items()},
    **{f"s3.{k}": v for k, v in creds.items()},
)
acked_rows = acked_commits = conflicts = 0
now = datetime.datetime.now(datetime.timezone.utc)
for c in range(commits):
    # pyiceberg has no retry of its own; four floe workers committing back to back can win
    # many rounds in a row on a loaded machine
    for attempt in range(400):
        table = catalog.load_table(f"{database}.{table_name}")
        schema = table.schema().as_arrow()
        n = per_commit
        columns = {}
        for field in schema:
            name = field.name
            if name == "event_id":
                columns[name] = [f"{prefix}-{c}-{i}" for i in range(n)]
            elif name in ("collector_tstamp", "load_tstamp"):
                columns[name] = [now] * n
            elif name in ("event", "platform", "source_shard_id", "source_sequence_number"):
                columns[name] = [prefix] * n
            elif name == "source_sub_sequence":
                columns[name] = [0] * n
            else:
                columns[name] = [None] * n
        try:
            table.append(pa.Table.from_pydict(columns, schema=schema))
            acked_rows += n
            acked_commits += 1
            break
        except CommitFailedException:
            conflicts += 1
            time.sleep(0.05 * (1 + attempt % 5))
    else:
        sys.exit(f"commit {c} never succeeded")
print(json.dumps({"acked_rows": acked_rows, "acked_commits": acked_commits, "conflicts": conflicts}))
