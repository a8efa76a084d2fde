"""The data plane end to end (issue 3): real relays and a real proxy on
loopback, driven by curl, PySocks and raw sockets."""
import concurrent.futures
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
import socks  # python3-socks (PySocks)

from httpd import expected_sha256
from netlib import Httpd, Network, http_get_over, recv_exact, socks5_connect, wait_until

CURL_TIMEOUT = 300


@pytest.fixture(scope="module")
def httpd(tmp_path_factory):
    h = Httpd(tmp_path_factory.mktemp("httpd"))
    yield h
    h.stop()


@pytest.fixture(scope="module")
def net(conet, tmp_path_factory, httpd):
    """Four relays in two regions, each allowed to reach 127.0.0.1 only, and a proxy."""
    with Network(conet, tmp_path_factory.mktemp("net")) as n:
        for i, region in enumerate(["DE", "DE", "US", "US"]):
            n.add_relay(f"relay{i}", region)
        n.proxy = n.start()
        yield n


def curl(*args, timeout=CURL_TIMEOUT):
    return subprocess.run(["curl", "-sS", "--fail", "--max-time", str(timeout), *map(str, args)],
                          capture_output=True, timeout=timeout + 30)


def url(httpd, path):
    return f"http://127.0.0.1:{httpd.port}{path}"


@pytest.mark.parametrize("mode", ["socks5-hostname", "socks4a", "http", "http-connect"])
def test_curl_through_every_proxy_protocol(net, httpd, mode):
    p = f"127.0.0.1:{net.proxy.port}"
    flags = {"socks5-hostname": ["--socks5-hostname", p], "socks4a": ["--socks4a", p],
             "http": ["-x", f"http://{p}"], "http-connect": ["-p", "-x", f"http://{p}"]}[mode]
    out = curl(*flags, url(httpd, "/bytes/300000?seed=7"))
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(out.stdout).hexdigest() == expected_sha256(300000, 7)


def test_pysocks_through_the_proxy(net, httpd):
    s = socks.socksocket()
    s.set_proxy(socks.SOCKS5, "127.0.0.1", net.proxy.port, rdns=True)
    s.settimeout(60)
    s.connect(("127.0.0.1", httpd.port))
    head, body = http_get_over(s, "/echo/pysocks-ok")
    assert b"200 OK" in head and body == b"pysocks-ok"
    s4 = socks.socksocket()
    s4.set_proxy(socks.SOCKS4, "127.0.0.1", net.proxy.port, rdns=True)
    s4.settimeout(60)
    s4.connect(("127.0.0.1", httpd.port))
    assert http_get_over(s4, "/echo/socks4a-ok")[1] == b"socks4a-ok"


def test_256_mib_download_and_64_mib_upload_keep_their_hashes(net, httpd, tmp_path):
    n = 256 << 20
    out = subprocess.run(f"curl -sS --fail --max-time {CURL_TIMEOUT} --socks5-hostname 127.0.0.1:{net.proxy.port} "
                         f"'{url(httpd, f'/bytes/{n}?seed=3')}' | sha256sum", shell=True, capture_output=True,
                         text=True, timeout=CURL_TIMEOUT + 30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == expected_sha256(n, 3)

    upload = tmp_path / "upload.bin"
    data = random.Random(5).randbytes(64 << 20)
    upload.write_bytes(data)
    out = curl("--socks5-hostname", f"127.0.0.1:{net.proxy.port}", "--data-binary", f"@{upload}",
               "-H", "Content-Type: application/octet-stream", url(httpd, "/sha256"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == hashlib.sha256(data).hexdigest()


def test_200_concurrent_streams_with_random_sizes(net, httpd):
    rnd = random.Random(11)
    jobs = [(rnd.randrange(1, 2_000_000), seed) for seed in range(200)]

    def fetch(job):
        size, seed = job
        s = socks.socksocket()
        s.set_proxy(socks.SOCKS5, "127.0.0.1", net.proxy.port, rdns=True)
        s.settimeout(120)
        s.connect(("127.0.0.1", httpd.port))
        head, body = http_get_over(s, f"/bytes/{size}?seed={seed}")
        s.close()
        return hashlib.sha256(body).hexdigest() == expected_sha256(size, seed)

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(fetch, jobs))
    assert all(results), f"{results.count(False)} of 200 streams came back wrong"


def test_socks5_credentials_isolate_circuits(net, httpd):
    # Streams held open by alice (2), bob (1) and an anonymous user (1) on a
    # fresh proxy: alice's two share one isolated circuit, bob gets another, and
    # the anonymous stream uses a shared (not isolated) circuit.
    proxy = net.start_proxy()
    held = []
    try:
        def status():
            return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/status", timeout=10).read())

        for auth in (("alice", "x"), ("bob", "x"), ("alice", "x"), None):
            code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port, auth=auth)
            assert code == 0
            held.append(s)
        busy = [c for c in status()["circuits"] if c["streams"] > 0]
        assert sorted((c["isolated"], c["streams"]) for c in busy) == [(False, 1), (True, 1), (True, 2)], busy
        for i, s in enumerate(held):  # every stream still works
            assert http_get_over(s, f"/echo/held{i}")[1] == f"held{i}".encode()
    finally:
        for s in held:
            s.close()
        proxy.terminate()


def test_isolated_circuits_are_bounded(net, httpd):
    proxy = net.start_proxy("--max-isolated", "2")
    try:
        def status():
            return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/status", timeout=10).read())

        def wait_until_idle():  # a closed stream ends after its END crosses the circuit
            wait_until(lambda: status()["streams"] == 0, 60, "the proxy's streams to end")

        # Finished streams leave idle circuits: a new credential retires the oldest.
        for user in ("a", "b", "c"):
            code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port, auth=(user, "x"))
            assert code == 0
            assert http_get_over(s, f"/echo/{user}")[1] == user.encode()
            s.close()
            wait_until_idle()
        assert len([c for c in status()["circuits"] if c["isolated"] and c["state"] != "dead"]) <= 2
        # Two credentials holding open streams: a third is refused, and the proxy stays healthy.
        held = []
        for user in ("d", "e"):
            code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port, auth=(user, "x"))
            assert code == 0
            held.append(s)
        code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port, auth=("f", "x"))
        assert code != 0
        s.close()
        assert http_get_over(held[0], "/echo/still")[1] == b"still"
        for s in held:
            s.close()
    finally:
        proxy.terminate()


def test_entries_are_chosen_by_latency(conet, tmp_path, httpd):
    # relay0 sits behind a forwarder that holds every chunk for 80 ms. Once the
    # proxy has measured every entry, it stops choosing relay0 as an entry
    # (random choice would pick it for about a third of these circuits).
    with Network(conet, tmp_path) as n:
        slow = n.add_relay("relay0", "DE", tap_delay=0.08)
        for i, region in enumerate(["DE", "US", "US"], start=1):
            n.add_relay(f"relay{i}", region)
        proxy = n.start(["--pool", "1", "--max-isolated", "100", "--guards", "4"])  # every relay a guard
        slow_name = f"@127.0.0.1:{slow.tap.port}/"

        def status():
            return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/status", timeout=10).read())

        def fetch(user):
            code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port, auth=(user, "x"))
            assert code == 0
            assert http_get_over(s, "/echo/ok")[1] == b"ok"
            s.close()

        def entries(st):
            return [c["path"][0] for c in st["circuits"] if c["isolated"] and c["state"] != "dead"]

        warmup = 0
        while len(status()["entry_rtt_ms"]) < 4:  # every relay can be an entry: measure them all
            fetch(f"warm{warmup}")
            warmup += 1
            assert warmup < 60, status()
        rtts = status()["entry_rtt_ms"]
        slow_rtt = next(v for k, v in rtts.items() if slow_name in k)
        assert slow_rtt > max(v for k, v in rtts.items() if slow_name not in k), rtts
        before = entries(status())
        for i in range(12):
            fetch(f"user{i}")
        after = entries(status())
        assert len(after) == len(before) + 12, (before, after)
        slow_count = lambda paths: sum(slow_name in e for e in paths)  # noqa: E731
        assert slow_count(after) == slow_count(before), after


def test_pac_and_status_endpoints(net):
    pac = urllib.request.urlopen(f"http://127.0.0.1:{net.proxy.port}/pac", timeout=10)
    assert pac.headers["Content-Type"] == "application/x-ns-proxy-autoconfig"
    text = pac.read().decode()
    assert "FindProxyForURL" in text and f"SOCKS5 127.0.0.1:{net.proxy.port}" in text
    status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{net.proxy.port}/status", timeout=10).read())
    assert status["relays_known"] == 4 and status["hops"] == 2
    ready = [c for c in status["circuits"] if c["state"] == "ready"]
    assert ready
    for c in ready:
        assert len(c["path"]) == 2 and c["path"][0] != c["path"][1]


def metric_sum(text, name):
    """The sum of a metric over all its label sets in Prometheus text."""
    values = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith(name + "{") or line.startswith(name + " ")]
    assert values, f"{name} not in metrics"
    return sum(values)


def relays_sum(relays, name):
    return sum(metric_sum(r.metrics(), name) for r in relays)


def test_relay_metrics_count_a_transfer_its_stream_and_circuits(net, httpd):
    text = net.relays[0].metrics()
    for name, kind in [("conet_relay_links", "gauge"), ("conet_relay_circuits", "gauge"),
                       ("conet_relay_streams", "gauge"), ("conet_relay_cell_bytes_total", "counter"),
                       ("conet_relay_rejects_total", "counter")]:
        assert f"# TYPE {name} {kind}" in text
    wait_until(lambda: relays_sum(net.relays, "conet_relay_streams") == 0, 60, "earlier exit streams to end")
    assert relays_sum(net.relays, "conet_relay_circuits") >= 2  # the proxy's ready circuits have two hops
    assert relays_sum(net.relays, "conet_relay_links") >= 2
    out_before = [metric(r.metrics(), "conet_relay_cell_bytes_total", '{direction="out"}') for r in net.relays]
    in_before = [metric(r.metrics(), "conet_relay_cell_bytes_total", '{direction="in"}') for r in net.relays]

    n = 3_000_000
    code, s = socks5_connect(net.proxy.port, "127.0.0.1", httpd.port)
    assert code == 0
    wait_until(lambda: relays_sum(net.relays, "conet_relay_streams") == 1, 30, "the exit to count the stream")
    head, body = http_get_over(s, f"/bytes/{n}?seed=4")
    s.close()
    assert hashlib.sha256(body).hexdigest() == expected_sha256(n, 4)
    wait_until(lambda: relays_sum(net.relays, "conet_relay_streams") == 0, 30, "the exit to count the stream's end")

    out_grew = sum(metric(r.metrics(), "conet_relay_cell_bytes_total", '{direction="out"}') - b
                   for r, b in zip(net.relays, out_before))
    in_grew = sum(metric(r.metrics(), "conet_relay_cell_bytes_total", '{direction="in"}') - b
                  for r, b in zip(net.relays, in_before))
    # The body crossed two links as cells: exit -> entry, entry -> proxy.
    assert out_grew >= 2 * n, out_grew
    assert in_grew >= n, in_grew  # the entry received it from the exit


@pytest.mark.parametrize("host", ["127.0.0.2", "10.0.0.1"])
def test_exit_with_an_allow_list_still_refuses_other_addresses(net, httpd, host):
    code, s = socks5_connect(net.proxy.port, host, httpd.port)
    s.close()
    assert code == 0x02  # connection not allowed by ruleset
    out = curl("-x", f"http://127.0.0.1:{net.proxy.port}", f"http://{host}:{httpd.port}/")
    assert out.returncode != 0


def test_a_refused_connection_maps_to_its_socks_code(net, httpd):
    # (Name-resolution failures are not tested end to end: that would send a
    # DNS query off this machine. Their mapping is in proxy/server.cpp.)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    code, s = socks5_connect(net.proxy.port, "127.0.0.1", dead_port)
    s.close()
    assert code == 0x05  # connection refused


def test_three_hop_circuits_work(conet, tmp_path, httpd):
    with Network(conet, tmp_path) as n:
        for i, region in enumerate(["DE", "US", "FR", "NL"]):
            n.add_relay(f"r{i}", region)
        proxy = n.start(["--hops", "3"])
        out = curl("--socks5-hostname", f"127.0.0.1:{proxy.port}", url(httpd, "/bytes/2000000?seed=9"))
        assert out.returncode == 0, out.stderr
        assert hashlib.sha256(out.stdout).hexdigest() == expected_sha256(2000000, 9)
        status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/status", timeout=10).read())
        assert all(len(c["path"]) == 3 for c in status["circuits"] if c["state"] == "ready")


def test_default_exit_policy_refuses_loopback_names_and_addresses(conet, tmp_path, httpd):
    with Network(conet, tmp_path) as n:
        for i in range(3):
            n.add_relay(f"r{i}", "DE", exit_allow=())
        proxy = n.start()
        for host in ["127.0.0.1", "::1", "localhost"]:
            code, s = socks5_connect(proxy.port, host, httpd.port)
            s.close()
            assert code == 0x02, host


def test_no_link_carries_stream_plaintext(conet, tmp_path, httpd):
    """Every relay is reached only through a recording tap, so the user-entry and
    entry-exit links are both recorded; a marker sent both ways never appears."""
    marker = "CONET-PLAINTEXT-MARKER-" + os.urandom(8).hex()
    with Network(conet, tmp_path) as n:
        for i in range(3):
            n.add_relay(f"r{i}", "DE", tap=True)
        proxy = n.start()
        for _ in range(3):
            code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port)
            assert code == 0
            head, body = http_get_over(s, f"/echo/{marker}")
            assert body == marker.encode()  # it really went through, both ways
        taps = [r.tap for r in n.relays]
        assert sum(t.connections for t in taps) >= 2  # user-entry and entry-exit links were both tapped
        for t in taps:
            assert not t.saw(marker.encode())
            assert not t.saw(f"/echo/{marker}".encode())
            assert not t.saw(b"127.0.0.1")  # nor the destination host


def test_sigkill_of_the_exit_fails_the_stream_fast_and_the_next_request_works(conet, tmp_path, httpd):
    with Network(conet, tmp_path) as n:
        for i, region in enumerate(["DE", "US", "FR", "NL"]):
            n.add_relay(f"r{i}", region)
        proxy = n.start(["--pool", "4"])
        code, s = socks5_connect(proxy.port, "127.0.0.1", httpd.port)
        assert code == 0
        s.sendall(f"GET /bytes/{8 << 30} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        recv_exact(s, 1 << 20)  # the download is flowing
        status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/status", timeout=10).read())
        busy = [c for c in status["circuits"] if c["streams"] > 0]
        assert len(busy) == 1
        exit_port = int(busy[0]["path"][-1].split("@")[1].split("/")[0].rsplit(":", 1)[1])
        victim = next(r for r in n.relays if r.port == exit_port)
        victim.proc.p.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        s.settimeout(30)
        try:
            while s.recv(1 << 20):
                pass
        except OSError:
            pass
        assert time.monotonic() - killed_at < 5, "the stream did not fail within 5 s"
        out = curl("--socks5-hostname", f"127.0.0.1:{proxy.port}", url(httpd, "/echo/after-failover"), timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout == b"after-failover"
        assert proxy.read_log().count(f"127.0.0.1:{exit_port}") >= 1  # logged


def test_garbage_on_every_port_leaves_processes_healthy(net, httpd):
    n_bytes = 64 << 20
    result = {}

    def good_transfer():
        out = subprocess.run(f"curl -sS --fail --max-time {CURL_TIMEOUT} --socks5-hostname "
                             f"127.0.0.1:{net.proxy.port} '{url(httpd, f'/bytes/{n_bytes}?seed=21')}' | sha256sum",
                             shell=True, capture_output=True, text=True)
        result["sha"] = out.stdout.split()[0] if out.stdout else out.stderr

    rejects_before = [metric_sum(r.metrics(), "conet_relay_rejects_total") for r in net.relays]
    t = threading.Thread(target=good_transfer)
    t.start()
    rnd = random.Random(99)
    bad_inputs = [
        rnd.randbytes(5000),                      # noise
        b"\x05",                                  # truncated SOCKS5 greeting, then close
        b"\x05\x01\x00\x05\x01\x00\x03\xff" + b"a" * 10,  # truncated request
        b"\x04\x01\x00\x50\x00\x00\x00\x01" + b"u" * 400,  # SOCKS4 user id too long
        b"GET / HTTP/1.1\r\nX: " + b"a" * 40000,  # oversized HTTP head
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
        b"\x01" + b"\xff\xff" + rnd.randbytes(3000),  # relay: client link kind + oversized garbage frame
        b"\x02" + b"\x00\x30" + rnd.randbytes(48),  # relay: relay link with a bogus XK message
        b"\x07garbage",                           # relay: unknown link kind
    ]
    ports = [net.proxy.port] + [r.port for r in net.relays]
    for port in ports:
        for payload in bad_inputs:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                try:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):  # the peer answers with an error or just closes
                        pass
                except OSError:  # reset, broken pipe or already closed by the peer
                    pass
    t.join(CURL_TIMEOUT + 30)
    assert result.get("sha") == expected_sha256(n_bytes, 21)
    assert net.proxy.alive() and all(r.proc.alive() for r in net.relays)
    assert json.loads(urllib.request.urlopen(f"http://127.0.0.1:{net.proxy.port}/status", timeout=10).read())
    for relay, before in zip(net.relays, rejects_before):  # each garbage connection was refused and counted
        wait_until(lambda: metric_sum(relay.metrics(), "conet_relay_rejects_total") >= before + len(bad_inputs), 30,
                   f"{relay.name} to count {len(bad_inputs)} refusals")
    out = curl("--socks5-hostname", f"127.0.0.1:{net.proxy.port}", url(httpd, "/echo/still-fine"))
    assert out.stdout == b"still-fine"


def test_http_errors_are_502_or_504_with_a_text_body(net, httpd):
    out = subprocess.run(["curl", "-s", "-o", "-", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{net.proxy.port}",
                          "http://127.0.0.2:1/"], capture_output=True, text=True, timeout=120)
    assert out.stdout.endswith("502")
    assert "exit policy" in out.stdout


def test_tampered_directory_records_are_refused(conet, tmp_path):
    with Network(conet, tmp_path) as n:
        r = n.add_relay("r0", "DE")
        forged = dict(r.record, region="US")
        n.write_directory([forged])
        out = conet.run("proxy", "--directory", n.directory_file, "--listen", "127.0.0.1:0", check=False, timeout=60)
        assert out.returncode == 1
        assert "no usable relays" in out.stderr
        assert "not signed by its operator" in out.stderr or "invalid" in out.stderr


def test_a_taken_proxy_port_is_an_error_that_names_the_option(conet, tmp_path):
    with Network(conet, tmp_path) as n, socket.socket() as taken:
        n.add_relay("r0", "DE")
        n.write_directory()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = conet.run("proxy", "--directory", n.directory_file, "--allow-private-relays", "--listen",
                        f"127.0.0.1:{port}", check=False, timeout=60)
        assert out.returncode == 1, out
        assert f"127.0.0.1:{port}" in out.stderr and "in use" in out.stderr and "--listen" in out.stderr, out.stderr


def test_sigterm_stops_relays_and_proxy_cleanly(conet, tmp_path, httpd):
    with Network(conet, tmp_path) as n:
        for i in range(2):
            n.add_relay(f"r{i}", "DE")
        proxy = n.start()
        assert proxy.terminate() == 0
        for r in n.relays:
            assert r.proc.terminate() == 0


def test_node_init_refuses_to_overwrite_and_validates_options(conet, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("pw\n")
    conet.run("wallet", "new", "--keystore", tmp_path / "w.json", "--password-file", pw, "--light")
    base = ["node", "init", "--wallet-keystore", tmp_path / "w.json", "--password-file", pw]
    conet.run(*base, "--dir", tmp_path / "n")
    assert (tmp_path / "n" / "noise_key").stat().st_mode & 0o777 == 0o600
    again = conet.run(*base, "--dir", tmp_path / "n", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert conet.run(*base, "--dir", tmp_path / "m", "--region", "germany", check=False).returncode == 2
    assert conet.run(*base, "--dir", tmp_path / "m", "--exit-allow", "10.0.0.0/99", check=False).returncode == 2
    assert conet.run(*base, "--dir", tmp_path / "m", "--listen", "nope", check=False).returncode == 2
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    bad = conet.run("node", "init", "--wallet-keystore", tmp_path / "w.json", "--password-file", wrong,
                    "--dir", tmp_path / "m", check=False)
    assert bad.returncode == 1 and "MAC mismatch" in bad.stderr
    assert not (tmp_path / "m").exists()


def metric(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{labels} not in metrics")


def test_a_slow_reader_does_not_make_relays_buffer(net, httpd):
    """A client that stops reading a 1 GiB download: flow control stops the exit
    within the windows (16 MiB per stream and circuit) plus socket buffers, instead of it
    pulling the whole download into the relays' memory."""
    code, s = socks5_connect(net.proxy.port, "127.0.0.1", httpd.port)
    assert code == 0
    s.sendall(f"GET /bytes/{1 << 30} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{net.proxy.port}/status", timeout=10).read())
    busy = [c for c in status["circuits"] if c["streams"] > 0]
    exit_port = int(busy[0]["path"][-1].split("@")[1].split("/")[0].rsplit(":", 1)[1])
    exit_relay = next(r for r in net.relays if r.port == exit_port)
    label = '{direction="out"}'
    start = metric(exit_relay.metrics(), "conet_relay_cell_bytes_total", label)
    readings = []

    def stalled():
        readings.append(metric(exit_relay.metrics(), "conet_relay_cell_bytes_total", label))
        return len(readings) >= 10 and readings[-1] == readings[-10] and readings[-1] > start

    wait_until(stalled, 60, "the exit to stop sending to a reader that does not read")
    sent = readings[-1] - start
    assert sent < 48 << 20, f"the exit sent {sent / 2**20:.1f} MiB towards a reader that read nothing"
    # Reading resumes the stream.
    got = 0
    while got < 64 << 20:
        chunk = s.recv(1 << 20)
        assert chunk
        got += len(chunk)
    s.close()
