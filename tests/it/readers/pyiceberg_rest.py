"""Read floe's tables with pyiceberg's own RestCatalog and print what it sees as JSON.

usage: pyiceberg_rest.py <catalog uri> <token or -> <namespace>
"""
import json
import sys

from pyiceberg.catalog.rest import RestCatalog

from iceberg_view import describe

uri, token, namespace = sys.argv[1], sys.argv[2], sys.argv[3]
catalog = RestCatalog("rest", uri=uri, **({"token": token} if token != "-" else {}))
print(json.dumps(describe(catalog, namespace)))
