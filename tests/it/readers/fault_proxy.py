"""A fault-injecting HTTP proxy in front of kinesis-local: forwards every request, except that
some GetRecords calls are answered with ProvisionedThroughputExceededException or
ExpiredIteratorException (HTTP 400, AWS JSON protocol), as Kinesis does under load or after an
iterator's 5 minutes. Prints its port, then serves until killed; GET /faults returns the counts.

usage: fault_proxy.py <upstream endpoint> <throttle every nth GetRecords> <expire every nth GetRecords>
"""
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

upstream, throttle_every, expire_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lock = threading.Lock()
counts = {"get_records": 0, "throttled": 0, "expired": 0, "forwarded": 0}


class Proxy(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            body = json.dumps(counts).encode()
        self.reply(200, [("Content-Type", "application/json")], body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target", "").endswith(".GetRecords"):
            with lock:
                counts["get_records"] += 1
                n = counts["get_records"]
                fault = None
                if throttle_every and n % throttle_every == 0:
                    fault, counts["throttled"] = "ProvisionedThroughputExceededException", counts["throttled"] + 1
                elif expire_every and n % expire_every == 0:
                    fault, counts["expired"] = "ExpiredIteratorException", counts["expired"] + 1
            if fault:
                payload = json.dumps({"__type": fault, "message": "injected by fault_proxy.py"}).encode()
                return self.reply(400, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", fault)], payload)
        req = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                     headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, headers, data = r.status, r.getheaders(), r.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers.items(), e.read()
        with lock:
            counts["forwarded"] += 1
        self.reply(status, headers, data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
