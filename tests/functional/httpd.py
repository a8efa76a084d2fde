#!/usr/bin/env python3
"""Test web server for the data-plane tests (loopback only).

GET  /bytes/N?seed=S  N pseudo-random bytes, deterministic for (N, S)
GET  /echo/TEXT       TEXT as the body
POST /sha256          reads the body, answers its SHA-256 hex
GET  /                "conet demo site"
Prints "httpd listening on PORT" when ready.
"""
import hashlib
import http.server
import random
import socketserver
import sys

BLOCK = 1 << 16


def stream_bytes(n, seed):
    """Yields n deterministic bytes in blocks (same as expected_sha256)."""
    rnd = random.Random(seed)
    block = rnd.randbytes(BLOCK)
    sent = 0
    while sent < n:
        chunk = block[: min(BLOCK, n - sent)]
        yield chunk
        sent += len(chunk)
        block = hashlib.sha512(block[:64]).digest() + block[64:]


def expected_sha256(n, seed):
    h = hashlib.sha256()
    for chunk in stream_bytes(n, seed):
        h.update(chunk)
    return h.hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path.startswith("/bytes/"):
            n = int(path[len("/bytes/"):])
            seed = int(query.split("=")[1]) if query.startswith("seed=") else 0
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for chunk in stream_bytes(n, seed):
                self.wfile.write(chunk)
        elif path.startswith("/echo/"):
            self._send(path[len("/echo/"):].encode())
        elif path == "/":
            self._send(b"conet demo site\n", "text/html")
        else:
            self.send_error(404)

    def do_POST(self):
        if self.path != "/sha256":
            self.send_error(404)
            return
        remaining = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
        self._send(h.hexdigest().encode())


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    server = Server((host, 0), Handler)
    print(f"httpd listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
