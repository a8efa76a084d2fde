"""Helpers for attacking the JSON-RPC/WebSocket port from the functional
tests: a validator whose node.toml sets `[limits]`, idle sockets bound to a
chosen loopback source address, a raw WebSocket handshake, and an endpoint
that accepts connections and never answers."""
import base64
import json
import os
import socket
import threading
import time
import urllib.request

from netlib import Proc, free_port


class Validator:
    """One validator with JSON-RPC on 127.0.0.1; `limits` go to node.toml's [limits] table."""

    def __init__(self, conet, tmp, limits=None):
        self.conet, self.tmp = conet, tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.pw = tmp / "pw"
        self.pw.write_text("validator pw\n")
        self.validator = conet.run("wallet", "new", "--keystore", tmp / "val.json", "--password-file", self.pw,
                                   "--light").stdout.strip()
        conet.run("genesis", "new", "--out", tmp / "genesis.json", "--validator", self.validator)
        self.rpc_port = free_port()
        conet.run("node", "init", "--dir", tmp / "node", "--wallet-keystore", tmp / "val.json", "--password-file",
                  self.pw, "--listen", f"127.0.0.1:{free_port()}", "--validator", "--genesis", tmp / "genesis.json",
                  "--rpc", f"127.0.0.1:{self.rpc_port}")
        if limits:
            set_limits(tmp / "node" / "node.toml", limits)
        self.url = f"http://127.0.0.1:{self.rpc_port}"
        self.proc = Proc([conet.binary, "node", "run", "--dir", tmp / "node", "--password-file", self.pw],
                         r"rpc on", tmp / "validator.log", "validator")

    def call(self, method, *params, timeout=30):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            doc = json.loads(r.read())
        assert "result" in doc, doc
        return doc["result"]

    def timed_call(self, method="conet_blockNumber", timeout=30):
        """(seconds, result) of one call on a fresh connection from 127.0.0.1."""
        start = time.monotonic()
        result = self.call(method, timeout=timeout)
        return time.monotonic() - start, result

    def stop(self):
        self.proc.kill()


def set_limits(toml_path, limits):
    """Sets keys of the [limits] table (which `node init` writes, all commented out)."""
    lines = toml_path.read_text().splitlines()
    values = [f"{k} = {v}" for k, v in limits.items()]
    if "[limits]" in lines:
        at = lines.index("[limits]") + 1
        lines[at:at] = values
    else:
        lines += ["[limits]", *values]
    toml_path.write_text("\n".join(lines) + "\n")


def connect_from(source, port, timeout=10):
    """A TCP connection to 127.0.0.1:port from the loopback address `source`."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def ws_handshake(s, host="127.0.0.1"):
    """A WebSocket upgrade on a connected socket; returns True when the server switched protocols."""
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            return False
        head += chunk
    return head.startswith(b"HTTP/1.1 101")


def is_closed(s):
    """True when the peer closed or reset `s` (without waiting); data the peer sent is read and ignored."""
    s.setblocking(False)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True
    finally:
        s.setblocking(True)


class DeadEndpoint:
    """A TCP listener that accepts every connection and never answers (nor closes)."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", free_port()))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.held = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted += 1

    def close(self):
        self.listener.close()
        for c in self.held:
            c.close()
