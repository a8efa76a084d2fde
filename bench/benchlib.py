"""Shared pieces of the benchmarks: a fast loopback source/sink server, a CONET
network (reusing the functional tests' helpers) and result printing."""
import os
import pathlib
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "functional"))

from netlib import Network, Proc, free_port  # noqa: E402

CHUNK = b"\0" * (1 << 20)


class Conet:
    def __init__(self):
        self.binary = pathlib.Path(os.environ.get("CONET_BIN", REPO / "build" / "release" / "conet"))
        if not self.binary.exists():
            sys.exit(f"build first: cmake --preset release && cmake --build --preset release ({self.binary})")

    def run(self, *args, check=True, timeout=120):
        p = subprocess.run([str(self.binary), *map(str, args)], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, start_new_session=True, timeout=timeout)
        if check and p.returncode:
            raise RuntimeError(f"conet {args} failed: {p.stderr}")
        return p


class SourceServer:
    """Minimal HTTP server on loopback: GET /N answers N zero bytes; GET /idle
    answers its headers and then holds the connection open; GET /small answers 2 bytes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.idle = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            path = req.split(b" ")[1].decode()
            if path == "/idle":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                self.idle.append(c)
                return
            n = 2 if path == "/small" else int(path[1:])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
            if n == 2:
                c.sendall(b"ok")
            sent = 0
            while sent < n and n != 2:
                k = min(len(CHUNK), n - sent)
                c.sendall(CHUNK[:k])
                sent += k
            c.close()
        except OSError:
            pass


def start_listening(args, port, log_path, timeout=30):
    """Starts a reference program and waits until its port accepts connections."""
    proc = subprocess.Popen([str(a) for a in args], stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited: {pathlib.Path(log_path).read_text()}")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not listen on {port}")


def raise_fd_limit(n=200_000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(n, hard) if os.geteuid() else n
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def conet_network(tmp, relays=2, hops=2, pool=1):
    net = Network(Conet(), tmp)
    for i in range(relays):
        net.add_relay(f"bench{i}", "DE" if i % 2 == 0 else "US")
    net.proxy = net.start(["--hops", str(hops), "--pool", str(pool)])
    return net


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def progress(text):
    """A progress line on stderr (results go to stdout): long runs say where they are."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values)
