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

usage: kinesis_efo.py <kinesis-local endpoint> <subscription seconds>
"""
import http.client
import json
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
stats = {"subscriptions": 0, "expired": 0, "shard_ends": 0, "get_records": 0}


def count(key):
    with lock:
        stats[key] += 1


def frame(event_type, payload):
    """One event-stream message (application/vnd.amazon.eventstream): prelude with its CRC,
    string headers, payload, message CRC."""
    headers = b""
    for name, value in ((":message-type", "event"), (":event-type", event_type), (":content-type", "application/json")):
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
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".GetRecords"):
            count("get_records")
        conn, resp = upstream_call(target, body, self.headers)
        try:
            if target.endswith(".SubscribeToShard") and resp.status == 200:
                self.subscription(json.loads(body), resp)
            else:
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the caller gave up (its own timeout) and will retry
        finally:
            conn.close()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def subscription(self, req, resp):
        count("subscriptions")
        stream = req["ConsumerARN"].split(":stream/", 1)[1].split("/consumer/", 1)[0]
        shard = req["ShardId"]
        self.send_response(200)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        started = time.monotonic()
        try:
            self.chunk(frame("initial-response", b"{}"))
            while True:
                msg = read_frame(resp)
                if msg is None:
                    break
                event_type, _, payload, raw = msg
                if event_type == "SubscribeToShardEvent":
                    event = json.loads(payload)
                    if not event["Records"]:
                        closed, children = shard_state(stream, shard, self.headers)
                        if closed:
                            end = {"Records": [], "MillisBehindLatest": 0, "ChildShards": children}
                            self.chunk(frame("SubscribeToShardEvent", json.dumps(end).encode()))
                            count("shard_ends")
                            break
                self.chunk(raw)
                if time.monotonic() - started >= SUBSCRIPTION_SECONDS:
                    count("expired")
                    break
            # Kinesis frees the shard for a new subscription as it ends one; kinesis-local
            # notices a closed connection only at its next event (each second): wait for that.
            resp.close()
            time.sleep(1.2)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the consumer went away (stopped, or re-subscribing)
        self.close_connection = True


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
