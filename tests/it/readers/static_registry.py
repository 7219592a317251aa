"""An Iglu static registry for the tests: plain files served over HTTP from 127.0.0.1, as a static
registry is served in production (from S3 or a web server). Prints the port it listens on, then
serves until killed; each request is logged on stderr ("GET /schemas/... 200").

usage: static_registry.py <directory holding schemas/>
"""
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))
        sys.stderr.flush()


handler = functools.partial(Handler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
