"""The user's proxy against hostile names and records (issue 7): /status
refuses foreign Host headers (DNS rebinding), and records that name a
non-public address or a host name are refused, so the proxy never dials or
resolves them."""
import json
import socket
import threading
import urllib.request

import pytest

from netlib import Httpd, Network, free_port, http_get_over, socks5_connect


@pytest.fixture(scope="module")
def httpd(tmp_path_factory):
    h = Httpd(tmp_path_factory.mktemp("httpd"))
    yield h
    h.stop()


def raw_get(port, path, host):
    """GET with exactly this Host header (urllib would write its own)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        head = f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "") + "Connection: close\r\n\r\n"
        return http_get_over_raw(s, head)


def http_get_over_raw(s, head):
    s.sendall(head.encode())
    data = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    code = int(status_line.split()[1])
    return code, rest.partition(b"\r\n\r\n")[2]


class CountingListener:
    """A TCP port that counts connections: a relay record names it, and the
    proxy must never come here."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()

    def close(self):
        self.sock.close()


def record_for(conet, tmp, name, password_file, advertise):
    """A signed record for a relay that is never run, advertising `advertise`."""
    keystore = tmp / f"{name}-wallet.json"
    conet.run("wallet", "new", "--keystore", keystore, "--password-file", password_file, "--light")
    d = tmp / name
    conet.run("node", "init", "--dir", d, "--wallet-keystore", keystore, "--password-file", password_file,
              "--listen", f"127.0.0.1:{free_port()}", "--advertise", advertise, "--region", "DE")
    return json.loads(conet.run("node", "record", "--dir", d, "--password-file", password_file).stdout)


def test_status_answers_only_local_host_names_and_pac_answers_any(conet, tmp_path):
    with Network(conet, tmp_path) as n:
        n.add_relay("r0", "DE")
        n.add_relay("r1", "US")
        proxy = n.start()
        for host in ("evil.example", f"evil.example:{proxy.port}", "127.0.0.1.evil.example", None):
            code, body = raw_get(proxy.port, "/status", host)
            assert code == 403, (host, body)
            assert b"relays_known" not in body
        for host in (f"127.0.0.1:{proxy.port}", "127.0.0.1", f"localhost:{proxy.port}", f"[::1]:{proxy.port}"):
            code, body = raw_get(proxy.port, "/status", host)
            assert code == 200, (host, body)
            assert json.loads(body)["relays_known"] == 2
        # The PAC file names only the address the client reached: served under any name.
        code, body = raw_get(proxy.port, "/pac", "evil.example")
        assert code == 200 and f"SOCKS5 127.0.0.1:{proxy.port}".encode() in body, body


def test_allow_host_adds_a_name_for_status(conet, tmp_path):
    with Network(conet, tmp_path) as n:
        n.add_relay("r0", "DE")
        n.add_relay("r1", "US")
        proxy = n.start(["--allow-host", "conet.lan"])
        assert raw_get(proxy.port, "/status", f"conet.lan:{proxy.port}")[0] == 200
        assert raw_get(proxy.port, "/status", "other.lan")[0] == 403


def test_metadata_and_named_records_are_refused_without_the_devnet_flag(conet, tmp_path):
    with Network(conet, tmp_path) as n:
        meta = record_for(conet, tmp_path, "meta", n.password_file, "169.254.169.254:80")
        named = record_for(conet, tmp_path, "named", n.password_file, "relay.example:443")
        n.write_directory([meta, named])
        out = conet.run("proxy", "--directory", n.directory_file, "--listen", "127.0.0.1:0", check=False, timeout=60)
        assert out.returncode == 1, out.stderr
        assert "proxy listening" not in out.stdout
        assert "2 refused by the address rule" in out.stderr, out.stderr
        # Loopback relays too: only a devnet may use them.
        n.add_relay("r0", "DE")
        n.add_relay("r1", "US")
        n.write_directory()
        out = conet.run("proxy", "--directory", n.directory_file, "--listen", "127.0.0.1:0", check=False, timeout=60)
        assert out.returncode == 1 and "2 refused by the address rule" in out.stderr, out.stderr


def test_named_record_is_refused_even_on_a_devnet_and_never_dialed(conet, tmp_path, httpd):
    trap = CountingListener()
    try:
        with Network(conet, tmp_path) as n:
            for i, region in enumerate(["DE", "US", "FR"]):
                n.add_relay(f"r{i}", region)
            named = record_for(conet, tmp_path, "named", n.password_file, f"localhost:{trap.port}")
            n.write_directory([r.record for r in n.relays] + [named])
            for r in n.relays:
                r.start()
            proxy = n.start_proxy("--guards", "4")
            status = lambda: json.loads(  # noqa: E731
                urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/status", timeout=10).read())
            st = status()
            assert st["relays_known"] == 3 and st["relays_refused"] == 1, st
            for i in range(6):  # fresh isolated circuits: every guard gets used
                code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port, auth=(f"u{i}", "x"))
                assert code == 0
                assert http_get_over(s, "/echo/ok")[1] == b"ok"
                s.close()
            assert len(status()["entry_guards"]) == 3
            assert trap.accepted == 0
    finally:
        trap.close()
