"""HTTP/2 over TLS for kinesis_efo.py: what a client of Kinesis really speaks.

Kinesis serves SubscribeToShard only over HTTP/2; an SDK that negotiates h2 by ALPN streams the
event stream in DATA frames under HTTP/2 flow control. This front terminates TLS with a
certificate for 127.0.0.1 signed by a throwaway CA (written to DIR/ca.pem for the client's
SSL_CERT_FILE), accepts h2 only, and hands each request to the same `serve` the HTTP/1.1 proxy
uses, answering through an h2 stream. Each connection has a reader thread (frames in, window
updates), and each request a thread of its own that blocks on the stream's flow-control window.
"""
import datetime
import ipaddress
import os
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 / localhost; returns (cert, key) paths."""
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "floe test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.pem"], "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.key"], "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return paths["server.pem"], paths["server.key"]


class Connection:
    """One client's HTTP/2 connection; all access to the h2 state machine under `cv`."""

    def __init__(self, sock, serve, count):
        self.sock, self.serve, self.count = sock, serve, count
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.cv = threading.Condition()
        self.requests = {}
        self.gone = set()
        self.closed = False

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def run(self):
        with self.cv:
            self.h2.initiate_connection()
            self.flush()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                with self.cv:
                    for ev in self.h2.receive_data(data):
                        self.on(ev)
                    self.flush()
                    self.cv.notify_all()  # window updates and resets wake the writers
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            with self.cv:
                self.closed = True
                self.cv.notify_all()
            self.sock.close()

    def on(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.requests[ev.stream_id] = (dict(ev.headers), bytearray())
        elif isinstance(ev, h2.events.DataReceived):
            self.requests[ev.stream_id][1].extend(ev.data)
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in self.requests:
            headers, body = self.requests.pop(ev.stream_id)
            self.count("h2_streams")
            threading.Thread(target=self.handle, args=(ev.stream_id, headers, bytes(body)), daemon=True).start()
        elif isinstance(ev, h2.events.StreamReset):
            self.gone.add(ev.stream_id)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closed = True

    def handle(self, stream_id, headers, body):
        fwd = {k: v for k, v in headers.items() if not k.startswith(":")}
        try:
            self.serve(fwd.get("x-amz-target", ""), body, fwd, Reply(self, stream_id))
        except (BrokenPipeError, ConnectionResetError, h2.exceptions.StreamClosedError):
            pass  # the client reset the stream (stopped, or re-subscribing)


class Reply:
    """An answer on one h2 stream, written as the flow-control window allows."""

    def __init__(self, conn, stream_id):
        self.c, self.id = conn, stream_id

    def start(self, status, headers, length):
        out = [(":status", str(status))] + [(k.lower(), v) for k, v in headers]
        if length is not None:
            out.append(("content-length", str(length)))
        with self.c.cv:
            self.c.h2.send_headers(self.id, out)
            self.c.flush()

    def write(self, data):
        view = memoryview(data)
        while view:
            with self.c.cv:
                while True:
                    if self.c.closed or self.id in self.c.gone:
                        raise BrokenPipeError("the client went away")
                    window = min(self.c.h2.local_flow_control_window(self.id), self.c.h2.max_outbound_frame_size)
                    if window > 0:
                        break
                    self.c.cv.wait(1.0)
                self.c.h2.send_data(self.id, bytes(view[:window]))
                self.c.flush()
            view = view[window:]

    def end(self):
        with self.c.cv:
            if not (self.c.closed or self.id in self.c.gone):
                self.c.h2.end_stream(self.id)
                self.c.flush()

    def reset(self):
        """Reset the stream under the client (RST_STREAM, INTERNAL_ERROR)."""
        with self.c.cv:
            if not (self.c.closed or self.id in self.c.gone):
                self.c.h2.reset_stream(self.id, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
                self.c.flush()


def serve_tls(directory, serve, count, start_stats_server):
    """Serve h2 over TLS on a free port; print it and the plain stats port; serve until killed."""
    cert, key = make_certificates(directory)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))
    stats_port = start_stats_server()
    print(listener.getsockname()[1], stats_port, flush=True)

    def accept(raw):
        try:
            sock = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as e:
            print(f"h2_front: TLS handshake failed: {e}", file=sys.stderr, flush=True)
            raw.close()
            return
        if sock.selected_alpn_protocol() != "h2":
            print("h2_front: the client did not negotiate h2", file=sys.stderr, flush=True)
            sock.close()
            return
        count("h2_connections")
        Connection(sock, serve, count).run()

    while True:
        raw, _ = listener.accept()
        threading.Thread(target=accept, args=(raw,), daemon=True).start()
