"""Every file under a directory that still holds a value: Parquet files read with pyarrow (every
cell of every column), gzip files decompressed, anything else (metadata JSON, Avro manifests
written without compression) searched as bytes. Prints the paths as JSON.

usage: find_value.py <dir> <value>
"""
import gzip
import json
import os
import sys

import pyarrow.parquet as pq

root, value = sys.argv[1], sys.argv[2]
needle = value.encode()
found = []
for base, _, files in os.walk(root):
    for name in files:
        path = os.path.join(base, name)
        if name.endswith(".parquet"):
            table = pq.read_table(path)
            text = json.dumps(table.to_pylist(), default=lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            hit = value in text
        else:
            data = open(path, "rb").read()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            hit = needle in data
        if hit:
            found.append(path)
print(json.dumps(sorted(found)))
