"""kinesis-local with enhanced fan-out made faithful: an HTTP proxy in front of it.

kinesis-local (kinesis-mock's JavaScript build) serves SubscribeToShard, but differs from
Kinesis in three ways that matter to a consumer, and this proxy corrects each of them:

1. A subscription to a closed shard never ends: it sends empty events with the same
   continuation sequence number forever. Kinesis ends it with a last event that has no
   ContinuationSequenceNumber and names the ChildShards (SHARD_END). The proxy sends that event
   once the shard is closed (ListShards gives it an EndingSequenceNumber) and an event comes back
   empty, and then ends the response.
2. A subscription never expires. Kinesis ends every subscription after 5 minutes and the
   consumer must subscribe again from its last continuation sequence number. The proxy ends each
   one after SUBSCRIPTION_SECONDS (a few seconds in the tests), so renewal is exercised often.
3. The event stream has no `initial-response` message first (boto3 refuses such a stream).

Every other call is forwarded unchanged. Prints its port, then serves until killed;
GET /stats returns counts (subscriptions, renewals forced, shard ends sent, GetRecords calls).

With `--tls DIR` it serves what Kinesis serves instead: HTTP/2 over TLS (ALPN `h2`, nothing
else), with a certificate for 127.0.0.1 signed by a test CA it writes to DIR/ca.pem — the
client trusts it through SSL_CERT_FILE. kinesis-local's own TLS port negotiates h2 too, but with
a self-signed certificate without an IP name, which no verifying client accepts.

With `--faults N`, every N-th subscription that has records to deliver breaks instead of
delivering that event (so its records must come again through the next subscription), in turn:
the stream reset under the client (h2 RST_STREAM, or the HTTP/1.1 connection cut mid-body), an
`InternalFailureException` message in the event stream, and — once — a stall: no event for
longer than a live subscription stays silent. /stats counts each under `faults`.

usage: kinesis_efo.py <kinesis-local endpoint> <subscription seconds> [--tls DIR] [--faults N]
"""
import http.client
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlparse(sys.argv[1])
SUBSCRIPTION_SECONDS = float(sys.argv[2])
lock = threading.Lock()
stats = {"subscriptions": 0, "expired": 0, "shard_ends": 0, "get_records": 0, "h2_connections": 0, "h2_streams": 0,
         "faults": {"reset": 0, "exception": 0, "stall": 0}}
FAULT_EVERY = int(sys.argv[sys.argv.index("--faults") + 1]) if "--faults" in sys.argv else 0
STALL_SECONDS = 35  # floe gives a subscription up after 30 s without an event
with_records = 0  # subscriptions that reached an event with records (the fault schedule)


def count(key):
    with lock:
        stats[key] += 1


def frame(event_type, payload, message_type="event"):
    """One event-stream message (application/vnd.amazon.eventstream): prelude with its CRC,
    string headers, payload, message CRC. An exception message names its type in
    `:exception-type` instead of `:event-type`."""
    headers = b""
    kind = ":event-type" if message_type == "event" else ":exception-type"
    for name, value in ((":message-type", message_type), (kind, event_type), (":content-type", "application/json")):
        n, v = name.encode(), value.encode()
        headers += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def read_frame(resp):
    """(event type, payload) of the next upstream message, or None at the end of the stream."""
    prelude = resp.read(12)
    if len(prelude) < 12:
        return None
    total, headers_len, _ = struct.unpack(">III", prelude)
    rest = resp.read(total - 12)
    headers, payload = rest[:headers_len], rest[headers_len:-4]
    event_type, i = None, 0
    while i < len(headers):
        n = headers[i]
        name = headers[i + 1:i + 1 + n].decode()
        i += 1 + n
        kind = headers[i]
        i += 1
        if kind != 7:  # only string headers are expected from kinesis-local
            raise ValueError(f"unexpected header type {kind}")
        (vlen,) = struct.unpack(">H", headers[i:i + 2])
        value = headers[i + 2:i + 2 + vlen].decode()
        i += 2 + vlen
        if name == ":event-type":
            event_type = value
    return event_type, rest[:headers_len], payload, prelude + rest


def upstream_call(target, body, headers):
    conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
    fwd = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "x-amz-target")}
    fwd["X-Amz-Target"] = target
    conn.request("POST", "/", body=body, headers=fwd)
    return conn, conn.getresponse()


def shard_state(stream, shard, headers):
    """(closed, child shards) of `shard`, from ListShards."""
    shards, token = [], None
    while True:
        req = {"NextToken": token} if token else {"StreamName": stream}
        conn, resp = upstream_call("Kinesis_20131202.ListShards", json.dumps(req).encode(), headers)
        out = json.loads(resp.read())
        conn.close()
        shards += out.get("Shards", [])
        token = out.get("NextToken")
        if not token:
            break
    me = next((s for s in shards if s["ShardId"] == shard), None)
    closed = me is not None and me["SequenceNumberRange"].get("EndingSequenceNumber") is not None
    children = [
        {
            "ShardId": s["ShardId"],
            "ParentShards": [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p],
            "HashKeyRange": s["HashKeyRange"],
        }
        for s in shards
        if shard in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))
    ]
    return closed, children


def passthrough(resp):
    """The upstream response's headers a proxy may pass on (no hop-by-hop ones)."""
    hop = ("transfer-encoding", "connection", "content-length", "keep-alive")
    return [(k, v) for k, v in resp.getheaders() if k.lower() not in hop]


def serve(target, body, headers, reply):
    """Forward one call upstream and answer it through `reply` (start / write / end)."""
    if target.endswith(".GetRecords"):
        count("get_records")
    conn, resp = upstream_call(target, body, headers)
    try:
        if target.endswith(".SubscribeToShard") and resp.status == 200:
            subscription(json.loads(body), resp, headers, reply)
        else:
            data = resp.read()
            reply.start(resp.status, passthrough(resp), len(data))
            reply.write(data)
            reply.end()
    finally:
        conn.close()


def next_fault():
    """The fault this subscription's first event with records meets, if any (see the docs)."""
    global with_records
    with lock:
        with_records += 1
        if not FAULT_EVERY or with_records % FAULT_EVERY:
            return None
        done = sum(stats["faults"].values())
        kind = "stall" if done == 2 else ("reset", "exception")[done % 2]
        stats["faults"][kind] += 1
        return kind


def inject(kind, resp, reply):
    """Break the subscription by `kind`, the event in hand undelivered."""
    resp.close()
    if kind == "exception":
        body = json.dumps({"message": "injected by kinesis_efo.py"}).encode()
        reply.write(frame("InternalFailureException", body, "exception"))
        reply.end()
    elif kind == "stall":
        time.sleep(STALL_SECONDS)
        reply.end()
    else:
        reply.reset()


def subscription(req, resp, headers, reply):
    count("subscriptions")
    fault_checked = False
    stream = req["ConsumerARN"].split(":stream/", 1)[1].split("/consumer/", 1)[0]
    shard = req["ShardId"]
    reply.start(200, passthrough(resp), None)
    started = time.monotonic()
    reply.write(frame("initial-response", b"{}"))
    while True:
        msg = read_frame(resp)
        if msg is None:
            break
        event_type, _, payload, raw = msg
        if event_type == "SubscribeToShardEvent":
            event = json.loads(payload)
            if event["Records"] and not fault_checked:
                fault_checked = True
                kind = next_fault()
                if kind:
                    inject(kind, resp, reply)
                    return
            if not event["Records"]:
                closed, children = shard_state(stream, shard, headers)
                if closed:
                    end = {"Records": [], "MillisBehindLatest": 0, "ChildShards": children}
                    reply.write(frame("SubscribeToShardEvent", json.dumps(end).encode()))
                    count("shard_ends")
                    break
        reply.write(raw)
        if time.monotonic() - started >= SUBSCRIPTION_SECONDS:
            count("expired")
            break
    # Kinesis frees the shard for a new subscription as it ends one; kinesis-local notices a
    # closed connection only at its next event (each second): wait for that.
    resp.close()
    time.sleep(1.2)
    reply.end()


class Http1Reply:
    """An answer over HTTP/1.1: sized, or chunked when streamed."""

    def __init__(self, handler):
        self.h, self.chunked = handler, False

    def start(self, status, headers, length):
        self.h.send_response(status)
        for k, v in headers:
            self.h.send_header(k, v)
        self.chunked = length is None
        self.h.send_header(*(("Transfer-Encoding", "chunked") if self.chunked else ("Content-Length", str(length))))
        self.h.end_headers()

    def write(self, data):
        self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        self.h.wfile.flush()

    def end(self):
        if self.chunked:
            self.h.wfile.write(b"0\r\n\r\n")
            self.h.wfile.flush()
            self.h.close_connection = True

    def reset(self):
        """Cut the connection mid-body (no last chunk)."""
        self.h.wfile.flush()
        self.h.close_connection = True
        self.h.connection.shutdown(socket.SHUT_RDWR)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with lock:
            body = json.dumps(stats).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            serve(self.headers.get("X-Amz-Target", ""), body, self.headers, Http1Reply(self))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the caller gave up (its own timeout) and will retry


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
if "--tls" in sys.argv:
    import h2_front  # beside this script

    def stats_server():
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1]

    h2_front.serve_tls(sys.argv[sys.argv.index("--tls") + 1], serve, count, stats_server)
else:
    print(server.server_address[1], flush=True)
    server.serve_forever()
