"""Attacks on a relay by a hostile client of our own (attacklib, written from
docs/protocol.md), each next to an honest user whose service must go on.

Each test prints the honest figures before and during the attack (pytest -s
shows them); the assertions are the budgets: memory that stays bounded, links
that are closed, honest requests that still succeed."""
import hashlib
import socket
import threading
import time

import pytest

import attacklib as A
from netlib import Network, socks5_connect, recv_exact, wait_until

MiB = 1 << 20


def set_limits(relay, **limits):
    """Appends values to the relay's [limits] table (the last table of node.toml)."""
    toml = relay.dir / "node.toml"
    text = toml.read_text()
    assert "[limits]" in text
    toml.write_text(text + "".join(f"{k} = {v}\n" for k, v in limits.items()))


def metric(relay, name, labels=""):
    """The value of one sample in the relay's /metrics (0 when absent)."""
    prefix = name + (("{" + labels + "}") if labels else "")
    for line in relay.metrics().splitlines():
        if line.startswith(prefix + " "):
            return float(line.split()[-1])
    return 0.0


def rejects(relay, reason):
    return metric(relay, "conet_relay_rejects_total", f'reason="{reason}"')


def honest_download(proxy_port, server_port, size):
    """Downloads `size` bytes through the proxy; returns (ok, seconds)."""
    t0 = time.monotonic()
    code, s = socks5_connect(proxy_port, "127.0.0.1", server_port, timeout=60)
    assert code == 0, f"SOCKS reply {code}"
    with s:
        got = 0
        while got < size:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += len(chunk)
    return got == size, time.monotonic() - t0


@pytest.fixture
def one_exit(conet, tmp_path):
    """One relay that is entry and exit (1-hop circuits for the attacker), a
    second relay so the honest proxy builds 2-hop paths, and a bulk server."""
    net = Network(conet, tmp_path)
    exit_relay = net.add_relay("exit", region="DE")
    entry = net.add_relay("entry", region="US", exit=False)
    bulk = A.BulkServer(8 * MiB)
    with net:
        yield net, exit_relay, entry, bulk
    bulk.close()


def test_independent_client_fetches_through_one_hop_circuit(one_exit):
    """attacklib itself speaks the protocol: link, CREATE with NK, BEGIN, DATA."""
    net, exit_relay, entry, bulk = one_exit
    net.write_directory()
    exit_relay.start()
    link = A.RawLink(exit_relay.port, A.relay_key(exit_relay.record))
    circ = A.OneHopCircuit(link, A.relay_key(exit_relay.record), 7)
    circ.send(A.BEGIN, 1, A.target("127.0.0.1", bulk.port))
    cmd, sid, _ = circ.recv()
    assert (cmd, sid) == (A.CONNECTED, 1)
    got = 0
    while got < 1 * MiB:
        cmd, sid, body = circ.recv()
        assert (cmd, sid) == (A.DATA, 1)
        got += len(body)  # 1 MiB is within the first stream window: no SENDME needed
    assert got >= 1 * MiB
    link.close()


def test_trickle_to_a_non_reading_link_keeps_exit_memory_bounded(one_exit):
    """A 1-hop circuit BEGINs 8 streams to a server that sends one byte per TCP
    segment, then never reads its link. Before: the exit grew by ~5 KiB per
    byte (1.58 GiB in 2.3 s). Now each cell costs its allocation, the streams
    stop reading while the circuit's queue is long, and memory stays bounded;
    an honest user's download through the same exit still completes."""
    net, exit_relay, entry, bulk = one_exit
    trickle = A.TrickleServer()
    try:
        proxy = net.start()
        ok, before_s = honest_download(proxy.port, bulk.port, 8 * MiB)
        assert ok
        pid = exit_relay.proc.p.pid
        rss0 = A.rss_bytes(pid)
        key = A.relay_key(exit_relay.record)
        link = A.RawLink(exit_relay.port, key, source_ip="127.0.5.2", rcvbuf=4096)
        circ = A.OneHopCircuit(link, key, 1)
        for sid in range(1, 9):
            circ.send(A.BEGIN, sid, A.target("127.0.0.1", trickle.port))
        # never read again: let the exit queue as much as it will
        deadline = time.monotonic() + 8
        peak = rss0
        while time.monotonic() < deadline:
            peak = max(peak, A.rss_bytes(pid))
            time.sleep(0.2)
        ok, during_s = honest_download(proxy.port, bulk.port, 8 * MiB)
        peak = max(peak, A.rss_bytes(pid))
        print(f"\ntrickle: {trickle.sent} bytes trickled; exit RSS {rss0 / MiB:.0f} -> peak {peak / MiB:.0f} MiB; "
              f"honest 8 MiB download {before_s:.2f} s before, {during_s:.2f} s during")
        assert trickle.sent > 10_000, "the trickle server did not run: the test proves nothing"
        assert ok, "honest download failed during the attack"
        assert peak - rss0 < 96 * MiB, f"exit grew by {(peak - rss0) / MiB:.0f} MiB"
        link.close()
    finally:
        trickle.close()
