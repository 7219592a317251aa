"""moto's standalone server, made strict where floe's correctness depends on it.

    python tests/standins/moto_strict.py -H 127.0.0.1 -p 5056

Plain moto 5.2 accepts every Glue UpdateTable whatever VersionId it is sent, so concurrent
committers silently overwrite each other, and it checks S3 conditional writes (If-None-Match /
If-Match) without a lock, so two racing writers can both "win". Both are what floe's exactly-once
commits rely on. This module wraps the two request handlers:

* Glue UpdateTable with a VersionId: refused with ConcurrentModificationException unless the
  VersionId is the table's current one; check and update happen under one lock.
* S3 PutObject / CompleteMultipartUpload: the condition check and the write happen under one lock.

Every patch is proved by tests/standins/test_moto_strict.py.
"""
import functools
import sys
import threading

from moto.core.exceptions import JsonRESTError
from moto.glue import responses as glue_responses
from moto.s3 import responses as s3_responses

# One lock for all patched handlers: the stand-in serves tests, not load.
_SERIAL = threading.RLock()


def _serialised(handler):
    @functools.wraps(handler)
    def run(*args, **kwargs):
        with _SERIAL:
            return handler(*args, **kwargs)

    return run


class ConcurrentModificationException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("ConcurrentModificationException", message)


_plain_update_table = glue_responses.GlueResponse.update_table


@_serialised
def _update_table_checking_version(self):
    expected = self.parameters.get("VersionId")
    if expected is not None:
        database = self.parameters.get("DatabaseName")
        name = self.parameters.get("TableInput", {}).get("Name")
        current = str(self.glue_backend.get_table(database, name)._current_version)
        if str(expected) != current:
            raise ConcurrentModificationException(
                f"table {database}.{name} is at version {current}, the update expected {expected}"
            )
    return _plain_update_table(self)


glue_responses.GlueResponse.update_table = _update_table_checking_version

# The S3 handler names differ between moto releases: wrap those this release has.
for _name in ("put_object", "complete_multipart_upload", "_key_response_put", "_key_response_post"):
    if hasattr(s3_responses.S3Response, _name):
        setattr(s3_responses.S3Response, _name, _serialised(getattr(s3_responses.S3Response, _name)))


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
