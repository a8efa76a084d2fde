"""`conet devnet` and ledger discovery (issue 4): a whole network from one
command; relays register themselves on the ledger; the proxy learns them from
JSON-RPC and refuses what the genesis validator did not certify."""
import json
import pathlib
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from netlib import LyingRpc, Proc, url_rpc as rpc

DEVNET_READY = 240  # seconds: wallets, a validator, four relays registering, the proxy (ASan builds are slow)
CURL_TIMEOUT = 120


def start_devnet(conet, dir_, log):
    proc = Proc([conet.binary, "devnet", "--dir", dir_, "--block-interval-ms", "300"], r"Press Ctrl-C to stop",
                log, "devnet", timeout=DEVNET_READY)
    proc.state = json.loads((pathlib.Path(dir_) / "devnet.json").read_text())
    return proc


def stop_devnet(proc):
    proc.p.send_signal(signal.SIGINT)
    return proc.p.wait(60)


def curl(*args):
    return subprocess.run(["curl", "-sS", "--fail", "--max-time", str(CURL_TIMEOUT), *map(str, args)],
                          capture_output=True, timeout=CURL_TIMEOUT + 30)


@pytest.fixture(scope="module")
def devnet(conet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("devnet")
    proc = start_devnet(conet, tmp / "net", tmp / "devnet.log")
    yield proc
    assert stop_devnet(proc) == 0, proc.read_log()


def test_devnet_writes_its_state_and_serves_curl_through_the_proxy(devnet):
    state = devnet.state
    for key in ("rpc_url", "proxy", "demo_url"):
        assert key in state
    for ks in [state["wallets"]["validator"], state["wallets"]["user"], *state["wallets"]["operators"]]:
        assert pathlib.Path(ks).exists()
    for mode in (["--socks5-hostname", state["proxy"]], ["-x", "http://" + state["proxy"]]):
        out = curl(*mode, state["demo_url"])
        assert out.returncode == 0, out.stderr
        assert b"CONET demo site" in out.stdout


def test_relays_registered_themselves_in_two_regions(conet, devnet):
    nodes = json.loads(conet.run("query", "nodes", "--rpc", devnet.state["rpc_url"], "--json").stdout)
    records = [n["record"] for n in nodes["nodes"]]
    assert len(records) >= 4
    assert {r["region"] for r in records} >= {"DE", "US"}
    operators = {r["operator"] for r in records}
    assert len(operators) == len(records)  # one operator per relay
    status = json.loads(urllib.request.urlopen(devnet.state["status_url"], timeout=30).read())
    assert status["relays_known"] >= 4


def test_devnet_wallets_are_funded_and_usable(conet, devnet):
    state = devnet.state
    user = conet.run("wallet", "show", "--keystore", state["wallets"]["user"], "--password-file",
                     state["password_file"], "--json")
    address = json.loads(user.stdout)["address"]
    account = json.loads(conet.run("query", "account", address, "--rpc", state["rpc_url"], "--genesis",
                                   state["genesis"], "--json").stdout)
    assert account["balance"] > 0 and account["proof_verified"] is True and account["certified"] is True


def flip_last_byte(hex_text):
    return hex_text[:-2] + format(int(hex_text[-2:], 16) ^ 1, "02x")


@pytest.mark.parametrize("forgery", ["empty certificate", "forged signature", "altered header"])
def test_proxy_refuses_headers_without_a_valid_certificate(conet, devnet, tmp_path, forgery):
    def tamper(method, params, result):
        if method == "conet_getHeader":
            if forgery == "empty certificate":
                result["certificate"] = []
            elif forgery == "forged signature":
                for vote in result["certificate"]:
                    vote["signature"] = flip_last_byte(vote["signature"][:-2]) + vote["signature"][-2:]
            else:
                # A different state root (the header's last 32 bytes) under the real certificate.
                enc = result["header"]["encoded"]
                result["header"]["encoded"] = enc[:-64] + format(int(enc[-64:-62], 16) ^ 0xFF, "02x") + enc[-62:]
        return result

    liar = LyingRpc(devnet.state["rpc_url"], tamper)
    try:
        p = subprocess.run([str(conet.binary), "proxy", "--rpc", liar.url, "--genesis", devnet.state["genesis"],
                            "--listen", "127.0.0.1:0", "--wait-relays", "3", "--allow-private-relays"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        liar.close()
    assert p.returncode == 1, p.stderr
    assert "no usable relays" in p.stderr
    assert "proxy listening" not in p.stdout
    assert "header certificate refused" in p.stderr, p.stderr


def test_proxy_refuses_a_replayed_old_head(conet, devnet):
    # A certificate is valid forever, so an RPC could replay an old block to
    # hide newer records; the proxy refuses a head older than --max-header-age.
    def replay_block_1(request):
        if request["method"] == "conet_getHeader" and not request.get("params"):
            request["params"] = [1]
        return request

    block1_time = rpc(devnet.state["rpc_url"], "conet_getHeader", 1)["header"]["time"]
    while rpc(devnet.state["rpc_url"], "conet_getHeader")["header"]["time"] < block1_time + 3:
        time.sleep(0.1)  # polling the chain's own clock until block 1 is 3 s old
    liar = LyingRpc(devnet.state["rpc_url"], lambda method, params, result: result, replay_block_1)
    try:
        p = subprocess.run([str(conet.binary), "proxy", "--rpc", liar.url, "--genesis", devnet.state["genesis"],
                            "--listen", "127.0.0.1:0", "--wait-relays", "3", "--max-header-age", "2",
                            "--allow-private-relays"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        liar.close()
    assert p.returncode == 1 and "head block 1 is stale" in p.stderr, p.stderr


def region_offset(encoded):
    """Where the 2-byte region text starts in an encoded node record (codec
    layout in ledger/node_record.cpp): operator address (20), Noise key (32),
    u32 endpoint count, each endpoint (u32 length, host, u16 port), then the
    region as u32 length + text."""
    at = 20 + 32
    count = int.from_bytes(encoded[at:at + 4], "big")
    at += 4
    for _ in range(count):
        at += 4 + int.from_bytes(encoded[at:at + 4], "big") + 2
    assert int.from_bytes(encoded[at:at + 4], "big") == 2, "region is not 2 bytes long"
    return at + 4


@pytest.mark.parametrize("forgery", ["record", "stake"])
def test_proxy_refuses_a_forged_node_record_and_uses_the_rest(conet, devnet, tmp_path, forgery):
    victim = {}

    def tamper(method, params, result):
        if method == "conet_getNode" and (not victim or victim["key"] == params[0]):
            victim["key"] = params[0]
            if forgery == "record":
                # Move the relay to another region: rewrite exactly the region field.
                enc = bytearray.fromhex(result["record_encoded"].removeprefix("0x"))
                at = region_offset(enc)
                assert enc[at:at + 2] in (b"DE", b"US"), enc[at:at + 2]
                enc[at:at + 2] = b"FR"
                result["record_encoded"] = ("0x" if result["record_encoded"].startswith("0x") else "") + enc.hex()
            else:
                result["stake"] = result["stake"] + 1_000_000
        return result

    liar = LyingRpc(devnet.state["rpc_url"], tamper)
    proxy = None
    try:
        proxy = Proc([conet.binary, "proxy", "--rpc", liar.url, "--genesis", devnet.state["genesis"], "--listen",
                      "127.0.0.1:0", "--wait-relays", "60", "--allow-private-relays"], r"proxy listening on (\S+)",
                     tmp_path / "proxy.log", "proxy")
        log = proxy.read_log()
        assert f"refused node record {victim['key'][:8]}" in log, log
        assert "Merkle proof" in log
        address = proxy.ready_match.group(1)
        status = json.loads(urllib.request.urlopen(f"http://{address}/status", timeout=30).read())
        assert status["relays_known"] == 3
        out = curl("--socks5-hostname", address, devnet.state["demo_url"])
        assert out.returncode == 0 and b"CONET demo site" in out.stdout, out.stderr
    finally:
        if proxy:
            proxy.terminate()
        liar.close()


def test_several_rpc_endpoints_defeat_withholding(conet, devnet, tmp_path):
    # Each lying endpoint hides a different relay from its list; asking both,
    # the proxy still learns every relay (each record verified on its own).
    keys = [n["record"]["noise_key"] for n in rpc(devnet.state["rpc_url"], "conet_listNodes", 0, 100)["nodes"]]
    assert len(keys) >= 4

    def hiding(key):
        def tamper(method, params, result):
            if method == "conet_listNodes":
                result["nodes"] = [n for n in result["nodes"] if n["record"]["noise_key"] != key]
            return result
        return tamper

    liars = [LyingRpc(devnet.state["rpc_url"], hiding(keys[0])), LyingRpc(devnet.state["rpc_url"], hiding(keys[1]))]
    proxies = []
    try:
        for urls in ([liars[0].url], [liars[0].url, liars[1].url]):
            args = [conet.binary, "proxy", "--genesis", devnet.state["genesis"], "--listen", "127.0.0.1:0",
                    "--allow-private-relays"]
            for u in urls:
                args += ["--rpc", u]
            proxies.append(Proc(args, r"proxy listening on (\S+)", tmp_path / f"proxy{len(urls)}.log", "proxy"))
        known = [json.loads(urllib.request.urlopen(f"http://{p.ready_match.group(1)}/status", timeout=30).read())[
            "relays_known"] for p in proxies]
        assert known == [len(keys) - 1, len(keys)]
    finally:
        for p in proxies:
            p.terminate()
        for liar in liars:
            liar.close()


def test_devnet_stops_cleanly_and_resumes_its_chain(conet, tmp_path):
    dir_ = tmp_path / "net"
    first = start_devnet(conet, dir_, tmp_path / "first.log")
    rpc_url = first.state["rpc_url"]
    proxy_host, proxy_port = first.state["proxy"].rsplit(":", 1)
    height = rpc(rpc_url, "conet_blockNumber")
    assert stop_devnet(first) == 0, first.read_log()
    assert not (dir_ / "devnet.json").exists()
    with pytest.raises(OSError):  # the proxy is gone with it
        socket.create_connection((proxy_host, int(proxy_port)), timeout=5).close()

    second = start_devnet(conet, dir_, tmp_path / "second.log")
    try:
        assert "reusing the chain" in "\n".join(second.lines)
        assert rpc(second.state["rpc_url"], "conet_blockNumber") > height
        out = curl("--socks5-hostname", second.state["proxy"], second.state["demo_url"])
        assert out.returncode == 0 and b"CONET demo site" in out.stdout, out.stderr
    finally:
        assert stop_devnet(second) == 0, second.read_log()


def test_node_init_validates_ledger_options(conet, tmp_path, password_file):
    conet.run("wallet", "new", "--keystore", tmp_path / "w.json", "--password-file", password_file, "--light")
    base = ["node", "init", "--wallet-keystore", tmp_path / "w.json", "--password-file", password_file]
    no_genesis = conet.run(*base, "--dir", tmp_path / "a", "--ledger-rpc", "http://127.0.0.1:1", check=False)
    assert no_genesis.returncode == 2 and "--ledger-rpc needs --genesis" in no_genesis.stderr
    (tmp_path / "g.json").write_text("{}")
    bad_url = conet.run(*base, "--dir", tmp_path / "b", "--ledger-rpc", "127.0.0.1:1", "--genesis",
                        tmp_path / "g.json", check=False)
    assert bad_url.returncode == 2 and "http://" in bad_url.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
