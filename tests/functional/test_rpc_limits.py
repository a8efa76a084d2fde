"""Budgets of the JSON-RPC/WebSocket port and of relay discovery (issue 7):
hundreds of idle connections from one source leave honest clients served,
idle sockets and old WebSockets are closed, and a `--rpc` endpoint that
never answers neither stalls the proxy's relay list nor its shutdown."""
import json
import pathlib
import signal
import subprocess
import time
import urllib.request

import pytest
import websocket  # Debian python3-websocket: an independent client implementation

from netlib import Proc, wait_until
from rpc_attack import DeadEndpoint, Validator, connect_from, is_closed, ws_handshake

ATTACKER = "127.0.5.2"  # all of 127.0.0.0/8 is loopback: a second source address on this machine
HONEST_MAX_S = 5.0  # an honest answer within this long (the release build answers in milliseconds)
SHORT = {"rpc_idle_timeout_ms": 1500, "ws_max_lifetime_ms": 3000}


def honest_latencies(v, n):
    return [v.timed_call()[0] for _ in range(n)]


def test_hundreds_of_idle_connections_from_one_source_leave_honest_clients_served(conet, tmp_path):
    v = Validator(conet, tmp_path / "v")  # the default limits: 32 per address, 256 in total
    held = []
    try:
        before = honest_latencies(v, 10)
        # 40 WebSockets that finish the upgrade and then say nothing, then
        # 300 TCP connections that never send a byte, all from one address.
        upgraded = 0
        for _ in range(40):
            try:  # a refused connection may be reset before connect() even returns
                s = connect_from(ATTACKER, v.rpc_port)
                held.append(s)
                upgraded += ws_handshake(s)
            except OSError:
                pass
        for _ in range(300):
            try:
                held.append(connect_from(ATTACKER, v.rpc_port))
            except OSError:
                pass
        # What is over the per-address cap is closed at once; what is under it stays.
        wait_until(lambda: sum(not is_closed(s) for s in held) <= 32, 30, "connections over the cap to be closed")
        still_open = sum(not is_closed(s) for s in held)
        during = honest_latencies(v, 20)
        print(f"\nupgraded {upgraded} of 40 WebSockets; {still_open} of {len(held)} attacker connections open; "
              f"honest latency before max {max(before) * 1000:.1f} ms, during max {max(during) * 1000:.1f} ms")
        assert 1 <= upgraded <= 32
        assert 1 <= still_open <= 32
        assert max(during) < HONEST_MAX_S
        # A WebSocket from the honest address works while the attacker holds its share.
        ws = websocket.create_connection(f"ws://127.0.0.1:{v.rpc_port}/", timeout=30)
        ws.send(json.dumps({"jsonrpc": "2.0", "method": "conet_chainId", "id": 7}))
        assert json.loads(ws.recv())["id"] == 7
        ws.close()
        assert v.proc.alive()
    finally:
        for s in held:
            s.close()
        v.stop()


def test_idle_connections_from_many_addresses_of_one_network_leave_honest_clients_served(conet, tmp_path):
    # 20 addresses of 127.0.6.0/24, each within its own per-address share
    # (8), together ask for 160 slots of the 64: their /24 gets 32.
    limits = {"rpc_max_connections": 64, "rpc_max_connections_per_prefix": 32, "rpc_max_connections_per_ip": 8}
    v = Validator(conet, tmp_path / "v", limits)
    held = []
    try:
        before = honest_latencies(v, 10)
        for host in range(1, 21):
            for _ in range(8):
                try:
                    held.append(connect_from(f"127.0.6.{host}", v.rpc_port))
                except OSError:  # refused (reset) before connect() returned
                    pass
        wait_until(lambda: sum(not is_closed(s) for s in held) <= 32, 30, "connections over the /24's cap to be closed")
        still_open = sum(not is_closed(s) for s in held)
        during = honest_latencies(v, 20)
        print(f"\n{still_open} of 160 connections from 20 addresses of one /24 held; honest latency before max "
              f"{max(before) * 1000:.1f} ms, during max {max(during) * 1000:.1f} ms")
        assert 1 <= still_open <= 32
        assert max(during) < HONEST_MAX_S
    finally:
        for s in held:
            s.close()
        v.stop()


@pytest.fixture(scope="module")
def short_lived(conet, tmp_path_factory):
    v = Validator(conet, tmp_path_factory.mktemp("short"), SHORT)
    yield v
    v.stop()


def test_idle_http_and_websocket_connections_are_closed_after_the_idle_time(short_lived):
    v = short_lived
    start = time.monotonic()
    silent = connect_from("127.0.0.1", v.rpc_port)  # never sends a request
    ws = connect_from("127.0.0.1", v.rpc_port)
    assert ws_handshake(ws)  # then never reads, so never answers the server's ping
    try:
        wait_until(lambda: is_closed(silent) and is_closed(ws), 30, "idle connections to be closed")
        took = time.monotonic() - start
        print(f"\nidle sockets closed after {took:.2f} s (rpc_idle_timeout_ms = {SHORT['rpc_idle_timeout_ms']})")
        assert took >= SHORT["rpc_idle_timeout_ms"] / 1000 * 0.9
        assert v.call("conet_chainId")  # the port still serves
    finally:
        silent.close()
        ws.close()


def test_a_busy_websocket_is_closed_at_the_end_of_its_lifetime(short_lived):
    v = short_lived
    ws = websocket.create_connection(f"ws://127.0.0.1:{v.rpc_port}/", timeout=30)
    start = time.monotonic()
    close_code = None
    answers = 0
    try:
        ws.send(json.dumps({"jsonrpc": "2.0", "method": "conet_subscribe", "params": ["newHeads"], "id": 0}))
        # Busy all along: a request every 200 ms, well inside the idle time.
        for i in range(1, 600):
            ws.send(json.dumps({"jsonrpc": "2.0", "method": "conet_blockNumber", "id": i}))
            got = None
            while got is None:
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT and json.loads(data).get("id") == i:
                    got = data
            if close_code is not None:
                break
            answers += 1
            time.sleep(0.2)  # pacing of the client's own requests, not synchronisation
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        close_code = -1  # closed without a close frame: still closed
    finally:
        lived = time.monotonic() - start
        ws.close()
    print(f"\nWebSocket closed after {lived:.2f} s and {answers} answers, close code {close_code} "
          f"(ws_max_lifetime_ms = {SHORT['ws_max_lifetime_ms']})")
    assert close_code is not None, "the WebSocket outlived its lifetime"
    assert close_code == 1001  # going away: the server's lifetime, not an error
    assert answers > 0
    assert SHORT["ws_max_lifetime_ms"] / 1000 * 0.9 <= lived < 30


@pytest.mark.once
def test_a_dead_rpc_endpoint_neither_stalls_the_relay_list_nor_shutdown(conet, tmp_path):
    from test_devnet import start_devnet, stop_devnet, curl  # the same devnet as its own tests

    dead = DeadEndpoint()
    devnet = start_devnet(conet, tmp_path / "net", tmp_path / "devnet.log")
    proxy = None
    try:
        rpc_url, genesis = devnet.state["rpc_url"], devnet.state["genesis"]
        body = json.dumps({"jsonrpc": "2.0", "method": "conet_listNodes", "params": [0, 100], "id": 1}).encode()
        with urllib.request.urlopen(urllib.request.Request(rpc_url, data=body), timeout=30) as r:
            registered = len(json.loads(r.read())["result"]["nodes"])
        # The dead endpoint first: it is asked before (and alongside) the good one.
        proxy = Proc([conet.binary, "proxy", "--rpc", dead.url, "--rpc", rpc_url, "--genesis", genesis,
                      "--listen", "127.0.0.1:0", "--wait-relays", "120", "--refresh", "1", "--allow-private-relays"],
                     r"proxy listening on (\S+)", tmp_path / "proxy.log", "proxy", timeout=180)
        address = proxy.ready_match.group(1)
        status = json.loads(urllib.request.urlopen(f"http://{address}/status", timeout=30).read())
        assert status["relays_known"] == registered
        out = curl("--socks5-hostname", address, devnet.state["demo_url"])
        assert out.returncode == 0, out.stderr
        assert dead.accepted >= 1
        # Wait for a refresh to be stuck on the dead endpoint, then stop the proxy.
        seen = dead.accepted
        wait_until(lambda: dead.accepted > seen, 60, "the proxy's refresh to call the dead endpoint again")
        start = time.monotonic()
        proxy.p.send_signal(signal.SIGTERM)
        code = proxy.p.wait(60)
        took = time.monotonic() - start
        print(f"\n{registered} relays learned past the dead endpoint; SIGTERM to exit took {took:.2f} s")
        assert code == 0
        assert took < 5, "shutdown waited for the dead endpoint"
    finally:
        if proxy:
            proxy.kill()
        stop_devnet(devnet)
        dead.close()


@pytest.mark.once
def test_the_rpc_client_gives_up_on_a_silent_endpoint_and_names_it(conet):
    dead = DeadEndpoint()
    try:
        start = time.monotonic()
        p = conet.run("query", "nodes", "--rpc", dead.url, check=False, timeout=120)
        took = time.monotonic() - start
        print(f"\nconet query against a silent endpoint gave up after {took:.2f} s: {p.stderr.strip()}")
        assert p.returncode != 0
        assert dead.url in p.stderr and "did not answer within 10000 ms" in p.stderr
        assert dead.accepted == 1
        assert 9 < took < 60  # the client's 10 s deadline, plus start-up (slow under ASan)
    finally:
        dead.close()
