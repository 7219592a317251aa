"""Test-side AWS administration against the stand-in, through boto3 (not floe's code).

usage: aws_admin.py <endpoint> create-bucket <name>
       aws_admin.py <endpoint> glue-table <database> <table>    # the Glue entry as JSON
"""
import json
import sys

import boto3

endpoint, command, *args = sys.argv[1:]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")

if command == "create-bucket":
    session.client("s3", endpoint_url=endpoint).create_bucket(Bucket=args[0])
    print(json.dumps({"bucket": args[0]}))
elif command == "glue-table":
    table = session.client("glue", endpoint_url=endpoint).get_table(DatabaseName=args[0], Name=args[1])["Table"]
    sd = table.get("StorageDescriptor", {})
    print(json.dumps({
        "table_type": table.get("TableType"),
        "parameters": table.get("Parameters", {}),
        "version_id": table.get("VersionId"),
        "location": sd.get("Location"),
        "columns": [{"name": c["Name"], "type": c["Type"], "parameters": c.get("Parameters", {})} for c in sd.get("Columns", [])],
    }))
else:
    sys.exit(f"unknown command {command}")
