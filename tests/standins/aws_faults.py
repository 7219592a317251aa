"""A fault-injecting HTTP proxy for any AWS stand-in (S3, Glue, DynamoDB on moto; Kinesis on
kinesis-local) and for the Iceberg REST catalog (rustberg): it forwards every request unchanged, except that every EVERY-th one gets a fault,
counted per service, the kinds taken in turn so each is injected as often as the others:

- ``server_error``: HTTP 500 with the service's own error shape (InternalError for S3,
  InternalFailure / InternalServerError / InternalServiceException for the JSON services, the
  REST catalog's ``{"error": {...}}`` — which the REST spec makes "commit state unknown" for a
  commit: the client may not take it for a refusal);
- ``throttle``: S3's 503 SlowDown, DynamoDB's and Kinesis' ProvisionedThroughputExceeded,
  Glue's ThrottlingException (HTTP 400), the REST catalog's 503 ServiceUnavailableException, as
  the services answer under load;
- ``reset``: the connection is closed with no answer, the request never reaches the server;
- ``delay``: the answer comes DELAY seconds late;
- ``lost_answer``: the request IS applied by the server, then the connection is closed with no
  answer, so a put, a conditional write or an UpdateTable that succeeded looks failed.

The service is told by the request: the JSON protocols name their operation in X-Amz-Target
(``Kinesis_20131202.``, ``DynamoDB_20120810.``, ``AWSGlue.``); the REST catalog's paths start
with ``/v1/``; the rest is S3's REST protocol.
Prints its port, then serves until killed; GET /__faults returns the counts by kind and by
service (a path no bucket can have).

With ``--only TARGET:KIND`` only requests whose X-Amz-Target is TARGET are counted and faulted,
always with KIND: the 1st, the (1+EVERY)th, … of them (``--only AWSGlue.UpdateTable:lost_answer``
with EVERY 2 loses the answer of every other UpdateTable — the SDK's own retry of it gets through).

usage: aws_faults.py <upstream endpoint> <every> [<delay seconds>] [--only TARGET:KIND]
"""
import http.client
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("server_error", "throttle", "reset", "delay", "lost_answer")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}

args = sys.argv[1:]
only = None
if "--only" in args:
    i = args.index("--only")
    target, _, only_kind = args[i + 1].rpartition(":")
    if only_kind not in KINDS or not target:
        sys.exit(f"aws_faults.py: --only TARGET:KIND, KIND one of the kinds, not {args[i + 1]!r}")
    only = (target, only_kind)
    del args[i:i + 2]
upstream = urllib.parse.urlsplit(args[0])
every = int(args[1])
delay_seconds = float(args[2]) if len(args) > 2 else 1.5
lock = threading.Lock()
state = {}  # service -> its own request and fault counts
counts = {"requests": 0, "by_kind": {k: 0 for k in KINDS}, "by_service": {}}


def service_of(target, path):
    for prefix, name in (("Kinesis_", "kinesis"), ("DynamoDB_", "dynamodb"), ("AWSGlue.", "glue")):
        if target.startswith(prefix):
            return name
    if not target and path.startswith("/v1/"):
        return "rest"
    return "s3" if not target else "other"


def next_fault(service, target):
    """The fault for this request, or None. The schedule is kept per service (a service that is
    called rarely, like the lease table, is faulted as surely as S3) and counted under the lock so
    it is exact."""
    with lock:
        counts["requests"] += 1
        mine = state.setdefault(service, {"requests": 0, "faults": 0})
        per = counts["by_service"].setdefault(service, {"requests": 0, **{k: 0 for k in KINDS}})
        per["requests"] += 1
        if only is not None and target != only[0]:
            return None
        mine["requests"] += 1
        # --only faults the 1st, (1+EVERY)th, … of its requests; otherwise the EVERYth, 2·EVERYth, …
        n = mine["requests"] - 1 if only is not None else mine["requests"]
        if every <= 0 or n % every:
            return None
        kind = only[1] if only is not None else KINDS[mine["faults"] % len(KINDS)]
        mine["faults"] += 1
        counts["by_kind"][kind] += 1
        per[kind] += 1
        return kind


def error_answer(service, kind):
    """(status, headers, body) the way `service` says `kind`."""
    if service == "s3":
        code, status = ("InternalError", 500) if kind == "server_error" else ("SlowDown", 503)
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>" \
               f"<Message>injected by aws_faults.py</Message><RequestId>fault</RequestId></Error>"
        return status, [("Content-Type", "application/xml")], body.encode()
    if service == "rest":
        code, status = ("InternalServerError", 500) if kind == "server_error" else ("ServiceUnavailableException", 503)
        body = json.dumps({"error": {"message": "injected by aws_faults.py", "type": code, "code": status}})
        return status, [("Content-Type", "application/json")], body.encode()
    if kind == "server_error":
        code = {"dynamodb": "InternalServerError", "glue": "InternalServiceException"}.get(service, "InternalFailure")
        status = 500
    else:
        code = {"glue": "ThrottlingException"}.get(service, "ProvisionedThroughputExceededException")
        status = 400
    if service == "dynamodb":
        code = f"com.amazonaws.dynamodb.v20120810#{code}"
    body = json.dumps({"__type": code, "message": "injected by aws_faults.py"}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        # a HEAD answer names the length of the body it does not carry
        length = dict((k.lower(), v) for k, v in headers).get("content-length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length if length is not None else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def hang_up(self):
        """Close with no answer at all: a reset (SO_LINGER 0 sends RST, not a polite FIN)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()

    def forward(self, body):
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                     headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, r.getheaders(), data

    def handle_any(self):
        body = self.read_body()
        if self.command == "GET" and self.path == "/__faults":
            with lock:
                return self.answer(200, [("Content-Type", "application/json")], json.dumps(counts).encode())
        target = self.headers.get("X-Amz-Target", "")
        kind = next_fault(service_of(target, self.path), target)
        if kind in ("server_error", "throttle"):
            return self.answer(*error_answer(service_of(target, self.path), kind))
        if kind == "reset":
            return self.hang_up()
        if kind == "delay":
            time.sleep(delay_seconds)
        answer = self.forward(body)
        if kind == "lost_answer":
            return self.hang_up()
        self.answer(*answer)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a delayed answer is not the proxy's problem


if __name__ == "__main__":
    server = Server(("127.0.0.1", 0), Proxy)
    print(server.server_address[1], flush=True)
    server.serve_forever()
