"""Compare floe's data contracts with Snowplow's own Python Iglu client (PyPI iglu-client 0.2.0)
pointed at the same resolver file and registries, event by event.

For every enriched-event line of the spool: the client resolves and validates each context, each
derived context and the unstruct event (jsonschema). Expected in floe: all valid → a row;
a schema no repository has → a bad row `schema_not_found`; data that fails its schema → a bad row
`schema_violation`. Lines that are not enriched events, or fail other rules, are not compared.

usage: iglu_compare.py <catalog.db> <warehouse dir> <spool dir> <resolver.json>
prints JSON: counts by verdict, mismatches (first 50), the verdict of every line by file:line.
"""
import json
import os
import sys
from collections import Counter

import jsonschema
from iglu_client.core import SchemaKey
from iglu_client.resolver import Resolver, ResolverError
from pyiceberg.catalog.sql import SqlCatalog

db, warehouse, spool, resolver_file = sys.argv[1:5]
resolver = Resolver.parse(open(resolver_file).read())
catalog = SqlCatalog("floe", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
ids = set(catalog.load_table("floe.snowplow_events").scan(selected_fields=("event_id",)).to_arrow().column("event_id").to_pylist())
bad = {}
for b in catalog.load_table("floe.snowplow_events_bad").scan().to_arrow().to_pylist():
    bad[b["raw"]] = (b["reason"], b["detail"])

CONTEXTS, UNSTRUCT, DERIVED, EVENT_ID = 52, 58, 122, 6


def entities(fields):
    for i in (CONTEXTS, DERIVED):
        if fields[i]:
            for e in json.loads(fields[i])["data"]:
                yield e
    if fields[UNSTRUCT]:
        yield json.loads(fields[UNSTRUCT])["data"]


def verdict(fields):
    for e in entities(fields):
        try:
            schema = resolver.lookup_schema(SchemaKey.parse_key(e["schema"]))
        except ResolverError:
            return "schema_not_found"
        try:
            jsonschema.validate(instance=e["data"], schema=schema)
        except jsonschema.exceptions.ValidationError:
            return "schema_violation"
    return "valid"


counts, mismatches, verdicts = Counter(), [], {}
for name in sorted(os.listdir(spool)):
    if name.startswith("."):
        continue
    for n, raw in enumerate(open(os.path.join(spool, name), "rb").read().split(b"\n")[:-1], start=1):
        try:
            fields = raw.decode("utf-8").split("\t")
            assert len(fields) == 131
            want = verdict(fields)
        except (UnicodeDecodeError, AssertionError, ValueError, KeyError, TypeError):
            continue  # not an enriched event the client can read: other tests' business
        where = f"{name}:{n}"
        if fields[EVENT_ID].lower() in ids:
            got = "valid"
        else:
            got = bad.get(raw, ("missing", ""))[0]
        if got not in ("valid", "schema_not_found", "schema_violation"):
            continue  # rejected by another rule (a bad timestamp, …) before the contracts
        counts[want] += 1
        verdicts[where] = got
        if got != want and len(mismatches) < 50:
            mismatches.append({"line": where, "iglu_client": want, "floe": got, "detail": bad.get(raw, ("", ""))[1]})

print(json.dumps({"counts": dict(counts), "mismatches": mismatches, "verdicts": verdicts}))
