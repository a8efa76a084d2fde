"""Helpers that run real CONET networks on loopback for the functional tests:
relays, a proxy, a test web server, recording taps, and a raw SOCKS client."""
import http.server
import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
READY_TIMEOUT = 60  # seconds; machines here are shared and slow at times


_port_rng = random.Random()  # its own generator: tests that seed `random` keep their sequences
# Every port handed out in this run: a port is free when it is checked, not
# when its process binds it, so two picks of one test (or a test's and a
# node still stopping from the one before) must never be the same port.
_handed_out = set()


def free_port():
    """A free port below the kernel's ephemeral range, so that no outgoing
    connection or port-0 listener can take it before the process binds it,
    and never one handed out before in this run."""
    hi = 32000
    try:
        hi = min(hi, int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) - 1)
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(500):
        port = _port_rng.randint(20000, hi) if hi > 20000 else 0
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port")


class Proc:
    """A child process whose stdout is drained by a thread; readiness is a line matching a pattern."""

    def __init__(self, args, ready, log_path, name, timeout=READY_TIMEOUT):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=self.log,
                                  stdin=subprocess.DEVNULL)
        self.lines = []
        self.ready_match = None
        self._ready = threading.Event()
        self._pattern = re.compile(ready)
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(timeout) or self.ready_match is None:
            self.kill()
            raise AssertionError(f"{name} not ready: stdout={self.lines} log={self.read_log()}")

    def _drain(self):
        for raw in self.p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            m = self._pattern.search(line)
            if m and not self._ready.is_set():
                self.ready_match = m
                self._ready.set()
        self._ready.set()

    def read_log(self):
        self.log.flush()
        return pathlib.Path(self.log_path).read_text(errors="replace")[-4000:]

    def alive(self):
        return self.p.poll() is None

    def terminate(self, timeout=20):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
        return self.p.wait()

    def kill(self):
        if self.alive():
            self.p.kill()
        self.p.wait()


class Httpd:
    def __init__(self, tmp):
        self.proc = Proc([sys.executable, HERE / "httpd.py"], r"httpd listening on (\d+)", tmp / "httpd.log", "httpd")
        self.port = int(self.proc.ready_match.group(1))

    def stop(self):
        self.proc.kill()


class Forwarder:
    """A TCP forwarder from a loopback port to `target_port`. With `record`,
    it keeps every byte of both directions (saw() looks for a marker); with
    `delay`, it holds each chunk that long (a slow path, for latency tests).
    cut() closes every forwarded connection and makes new ones close at once
    after accept; heal() forwards again."""

    def __init__(self, target_port, name="", record=False, delay=0.0):
        self.target_port = target_port
        self.name = name
        self.record = record
        self.delay = delay
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.recorded = bytearray()
        self.blocked = False
        self.closed = False
        self.sockets = set()
        self.connections = 0  # forwarded (accepted and connected upstream)
        self.refused = 0      # closed at once while cut
        threading.Thread(target=self._accept, daemon=True, name=f"fwd-{name}").start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                blocked = self.blocked or self.closed
                if blocked:
                    self.refused += 1
            if blocked:
                close_socket(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                close_socket(client)
                continue
            with self.lock:
                if self.blocked or self.closed:  # cut while connecting
                    close_socket(client)
                    close_socket(upstream)
                    continue
                self.connections += 1
                self.sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.record:
                    with self.lock:
                        self.recorded += data
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.sockets.discard(src)
                self.sockets.discard(dst)
            close_socket(src)
            close_socket(dst)

    def saw(self, marker: bytes) -> bool:
        with self.lock:
            return marker in self.recorded

    def cut(self):
        with self.lock:
            self.blocked = True
            victims, self.sockets = self.sockets, set()
        for s in victims:
            close_socket(s)

    def heal(self):
        with self.lock:
            self.blocked = False

    def close(self):
        with self.lock:
            self.closed = True
        self.cut()
        close_socket(self.listener)


def close_socket(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class Relay:
    def __init__(self, net, name, region, exit_allow, tap, exit, tap_delay=0.0):
        self.net = net
        self.name = name
        self.dir = net.tmp / name
        self.port = free_port()
        self.metrics_port = free_port()
        self.tap = Forwarder(self.port, "tap", record=True, delay=tap_delay) if tap or tap_delay else None
        keystore = net.tmp / f"{name}-wallet.json"
        net.conet.run("wallet", "new", "--keystore", keystore, "--password-file", net.password_file, "--light")
        args = ["node", "init", "--dir", self.dir, "--wallet-keystore", keystore, "--password-file", net.password_file,
                "--listen", f"127.0.0.1:{self.port}", "--region", region, "--directory", net.directory_file,
                "--metrics", f"127.0.0.1:{self.metrics_port}", "--allow-private-relays"]
        if self.tap:
            args += ["--advertise", f"127.0.0.1:{self.tap.port}"]
        for cidr in exit_allow:
            args += ["--exit-allow", cidr]
        if not exit:
            args.append("--no-exit")
        net.conet.run(*args)
        self.record = json.loads(net.conet.run("node", "record", "--dir", self.dir, "--password-file",
                                               net.password_file).stdout)
        self.proc = None

    def start(self):
        self.proc = Proc([self.net.conet.binary, "node", "run", "--dir", self.dir], r"relay listening on (\S+)",
                         self.net.tmp / f"{self.name}.log", self.name)

    def metrics(self):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode()


class Network:
    """Relays + a proxy on loopback. Use as a context manager; everything is stopped on exit."""

    def __init__(self, conet, tmp):
        self.conet = conet
        self.tmp = pathlib.Path(tmp)
        self.password_file = self.tmp / "password.txt"
        self.password_file.write_text("network password\n")
        self.directory_file = self.tmp / "directory.json"
        self.relays = []
        self.proxies = []

    def add_relay(self, name, region="ZZ", exit_allow=("127.0.0.1/32",), tap=False, exit=True, tap_delay=0.0):
        r = Relay(self, name, region, exit_allow, tap, exit, tap_delay)
        self.relays.append(r)
        return r

    def write_directory(self, records=None):
        records = records if records is not None else [r.record for r in self.relays]
        self.directory_file.write_text(json.dumps(records))

    def start(self, proxy_args=()):
        self.write_directory()
        for r in self.relays:
            r.start()
        return self.start_proxy(*proxy_args)

    def start_proxy(self, *extra):
        name = f"proxy{len(self.proxies)}"
        proc = Proc([self.conet.binary, "proxy", "--directory", self.directory_file, "--listen", "127.0.0.1:0",
                     "--allow-private-relays", *extra], r"proxy listening on 127\.0\.0\.1:(\d+)", self.tmp / f"{name}.log", name)
        proc.port = int(proc.ready_match.group(1))
        self.proxies.append(proc)
        return proc

    def stop(self):
        for p in self.proxies:
            p.kill()
        for r in self.relays:
            if r.proc:
                r.proc.kill()
            if r.tap:
                r.tap.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()



def testnet_ports(base, validators, relays):
    """The loopback ports `conet testnet --base-port base` uses: consensus
    base+i, RPC base+100+i, relays base+200+j, validators' metrics base+300+i."""
    return ([base + i for i in range(validators)] + [base + 100 + i for i in range(validators)] +
            [base + 200 + j for j in range(relays)] + [base + 300 + i for i in range(validators)])


def free_testnet_base(validators, relays):
    """A --base-port for `conet testnet` whose every port is free now, or None."""
    for _ in range(100):
        base = free_port()
        if base + 300 + validators >= 32000:
            continue
        free = True
        ports = list(testnet_ports(base, validators, relays))
        for port in ports:
            if port in _handed_out and port != base:
                free = False
                break
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            _handed_out.update(ports)
            return base
    return None

def socks5_connect(proxy_port, host, port, timeout=30, auth=None):
    """Raw SOCKS5 CONNECT with a domain name. Returns (reply code, socket)."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(b"\x05\x01\x02" if auth else b"\x05\x01\x00")
    method = recv_exact(s, 2)
    if auth:
        assert method == b"\x05\x02", method
        user, pw = (x.encode() for x in auth)
        s.sendall(bytes([1, len(user)]) + user + bytes([len(pw)]) + pw)
        assert recv_exact(s, 2) == b"\x01\x00"
    else:
        assert method == b"\x05\x00", method
    h = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + port.to_bytes(2, "big"))
    reply = recv_exact(s, 10)
    assert reply[0] == 5, reply
    return reply[1], s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def http_get_over(sock, path, host="127.0.0.1"):
    """Sends a GET on a connected stream; returns the whole response body (Connection: close)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class LyingRpc:
    """A JSON-RPC endpoint that forwards to a real one and alters the answers:
    `upstream` is a URL, or a function of the method giving the URL to ask;
    `rewrite` may change each request first and `tamper(method, params, result)`
    each result."""

    def __init__(self, upstream, tamper=lambda method, params, result: result, rewrite=lambda request: request):
        self.route = upstream if callable(upstream) else (lambda method: upstream)
        self.tamper, self.rewrite = tamper, rewrite
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                request = outer.rewrite(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                req = urllib.request.Request(outer.route(request["method"]), data=json.dumps(request).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    answer = json.loads(r.read())
                if "result" in answer:
                    answer["result"] = outer.tamper(request["method"], request.get("params", []), answer["result"])
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def url_rpc(url, method, *params):
    """One JSON-RPC call to an http:// URL; returns the result (KeyError on an error answer)."""
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["result"]


def try_url_rpc(url, method, *params):
    """url_rpc, or None while the node does not answer."""
    try:
        return url_rpc(url, method, *params)
    except OSError:
        return None
