"""Paid usage on a real network (issue 9): `conet devnet` deposits to the
user's prepaid balance and runs its proxy with the user's wallet; the proxy
signs cumulative receipts for each exit, sent inside the exit's onion layer;
the exits meter what they carry, claim the receipts on the ledger and are
paid with their entries and the developer fund, out of the prepaid balance
and nothing else. A forged or replayed receipt is refused by the ledger, a
user whose balance runs out is refused by the exits with a clear error, and a
proxy without a wallet rides the exits' rate-limited free tier.

The devnet runs with no emission, so the only money moving between the
user, the operators, the fund and the validator is usage fees and the
claims' transaction fees."""
import json
import pathlib
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from httpd import expected_sha256
from netlib import Httpd, Proc, free_port, wait_until, url_rpc as rpc

READY = 240        # seconds: ASan builds are slow, and the machine is shared
PRICE = 10_000     # base units per MiB
MiB = 1 << 20
PREPAID = 30 * PRICE  # the user can pay for 30 MiB
CURL_TIMEOUT = 120
FUND = None


def cost(n):
    return n * PRICE >> 20


@pytest.fixture(scope="module")
def net(conet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paid")
    dir_ = tmp / "net"
    proc = Proc([conet.binary, "devnet", "--dir", dir_, "--block-interval-ms", "300", "--emission", "0",
                 "--usage-price", PRICE, "--prepaid", PREPAID], r"Press Ctrl-C to stop", tmp / "devnet.log",
                "devnet", timeout=READY)
    httpd = Httpd(tmp)
    try:
        proc.state = json.loads((pathlib.Path(dir_) / "devnet.json").read_text())
        proc.httpd = httpd
        proc.tmp = tmp
        w = proc.state["wallets"]
        proc.user = address_of(conet, w["user"], proc.state["password_file"])
        proc.validator = address_of(conet, w["validator"], proc.state["password_file"])
        proc.operators = [address_of(conet, ks, proc.state["password_file"]) for ks in w["operators"]]
        yield proc
    finally:
        httpd.stop()
        proc.p.send_signal(signal.SIGINT)
        proc.p.wait(60)


def address_of(conet, keystore, password_file):
    out = conet.run("wallet", "show", "--keystore", keystore, "--password-file", password_file, "--json").stdout
    return json.loads(out)["address"]


def account(net, address):
    return rpc(net.state["rpc_url"], "conet_getAccount", address)


def fund_address(net):
    return rpc(net.state["rpc_url"], "conet_getEpoch")["developer_fund"]["address"]


def status(proxy):
    with urllib.request.urlopen(f"http://{proxy}/status", timeout=30) as r:
        return json.loads(r.read())


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", str(CURL_TIMEOUT), *map(str, args)], capture_output=True,
                          timeout=CURL_TIMEOUT + 30)


def download(proxy, port, n, seed=1, http=False):
    via = ["-x", f"http://{proxy}"] if http else ["--socks5-hostname", proxy]
    return curl(*via, "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{port}/bytes/{n}?seed={seed}")


def snapshot(net):
    who = {"user": net.user, "validator": net.validator, "fund": fund_address(net)}
    who.update({f"op{i}": a for i, a in enumerate(net.operators)})
    return {k: account(net, a) for k, a in who.items()}


def test_paid_traffic_pays_entry_exit_and_fund_and_the_prepaid_balance_falls_by_the_same_total(net):
    proxy = net.state["proxy"]
    assert status(proxy)["wallet"]["address"] == net.user
    before = snapshot(net)
    assert before["user"]["prepaid"] == PREPAID

    n = 8 * MiB
    r = download(proxy, net.httpd.port, n, seed=3)
    body = r.stdout[:-4]
    assert r.stdout[-3:] == b"200" and len(body) == n, r.stderr
    import hashlib
    assert hashlib.sha256(body).hexdigest() == expected_sha256(n, 3)

    # The exits claim each refresh: wait until the ledger has taken what the
    # proxy receipted, and stays there.
    def settled():
        s = status(proxy)["wallet"]
        receipted = sum(e["cost"] for e in s["spend"])
        fell = PREPAID - account(net, net.user)["prepaid"]
        return receipted >= cost(n) and fell >= receipted - len(s["spend"]) * 4
    wait_until(settled, 120, "the exits' claims to take the receipted bytes from the prepaid balance")
    time.sleep(3)  # a claim in flight lands too (nothing below depends on its timing)
    after = snapshot(net)

    fell = before["user"]["prepaid"] - after["user"]["prepaid"]
    gain = {k: after[k]["balance"] - before[k]["balance"] for k in after if k != "user"}
    claim_fees = gain["validator"]  # each claim's fee goes to the block's proposer
    assert claim_fees >= 1
    # Usage moves money only from the prepaid balance to operators and the fund.
    assert sum(gain.values()) == fell, (gain, fell)
    assert after["user"]["balance"] == before["user"]["balance"]
    # The user paid for what it fetched (the HTTP and SOCKS overheads are small).
    assert cost(n) <= fell <= cost(n + MiB), fell
    # 5 % to the fund, the rest to entries and exits (rounded down per receipt).
    assert abs(gain["fund"] - fell * 500 // 10_000) <= claim_fees + 1, (gain, fell)
    operators = sum(v for k, v in gain.items() if k.startswith("op")) + claim_fees
    assert abs(operators - (fell - fell * 500 // 10_000)) <= claim_fees + 1, (gain, fell)
    # Some relay earned as exit (66.5 % of a claim) and some as entry (28.5 %).
    earned = sorted((v for k, v in gain.items() if k.startswith("op")), reverse=True)
    assert earned[0] >= fell * 0.3, earned
    assert sum(1 for v in earned if v > 0) >= 2, earned


def test_the_ledger_refuses_forged_and_replayed_receipts(conet, net):
    s = net.state
    url = s["rpc_url"]
    chain = rpc(url, "conet_chainId")
    nodes = rpc(url, "conet_listNodes")["nodes"]
    ops = net.state["wallets"]["operators"]
    exit_ = next(n["record"] for n in nodes if n["record"]["operator"] == net.operators[0])
    epoch = rpc(url, "conet_getEpoch")["epoch"]
    entry = "ab" * 32  # an entry no relay has: its share goes to the fund

    def sign(keystore, bytes_, exit_key=exit_["noise_key"]):
        return conet.run("debug", "sign-receipt", "--keystore", keystore, "--password-file", s["password_file"],
                         "--chain-id", chain, "--exit", exit_key, "--entry", entry, "--epoch", epoch,
                         "--bytes", bytes_).stdout.strip()

    def claim(*receipts):
        args = ["tx", "usage-claim", "--rpc", url, "--keystore", ops[0], "--password-file", s["password_file"],
                "--node", exit_["noise_key"], "--epoch", epoch]
        for r in receipts:
            args += ["--receipt", r]
        return conet.run(*args, check=False)

    prepaid = account(net, net.user)["prepaid"]
    # Signed by the operator's own wallet, naming the user as payer.
    mine = sign(ops[0], MiB).split(",")
    forged = claim(",".join([net.user] + mine[1:]))
    assert forged.returncode != 0
    assert "usage claim refused: receipt 0: receipt signature is not the payer's" in forged.stderr, forged.stderr
    # The user's receipt with its byte count raised.
    real = sign(s["wallets"]["user"], MiB)
    raised = real.split(",")
    raised[2] = str(50 * MiB)
    r = claim(",".join(raised))
    assert r.returncode != 0 and "receipt signature is not the payer's" in r.stderr, r.stderr
    # The user's receipt for another exit.
    other = next(n["record"]["noise_key"] for n in nodes if n["record"]["operator"] == net.operators[1])
    r = claim(sign(s["wallets"]["user"], MiB, exit_key=other))
    assert r.returncode != 0 and "receipt signature is not the payer's" in r.stderr, r.stderr
    assert account(net, net.user)["prepaid"] == prepaid

    # The real one is paid once; sent again it is a replay.
    ok = claim(real)
    assert ok.returncode == 0, ok.stderr
    assert account(net, net.user)["prepaid"] == prepaid - cost(MiB)
    again = claim(real)
    assert again.returncode != 0
    assert "receipt 0: receipt claims no more bytes than were already claimed" in again.stderr, again.stderr
    assert account(net, net.user)["prepaid"] == prepaid - cost(MiB)


def test_a_proxy_without_a_wallet_rides_the_rate_limited_free_tier(conet, net):
    port = free_port()
    proxy = Proc([conet.binary, "proxy", "--rpc", net.state["rpc_url"], "--genesis", net.state["genesis"],
                  "--listen", f"127.0.0.1:{port}", "--allow-private-relays"], r"proxy listening on",
                 net.tmp / "free-proxy.log", "free proxy", timeout=READY)
    try:
        wait_until(lambda: any(c["state"] == "ready" for c in status(f"127.0.0.1:{port}")["circuits"]), READY,
                   "the free proxy's first circuit")
        assert status(f"127.0.0.1:{port}")["wallet"] is None
        # 256 KiB/s per circuit with a 256 KiB burst: 1.5 MiB takes at least 5 s.
        n = 3 * MiB // 2
        started = time.monotonic()
        r = download(f"127.0.0.1:{port}", net.httpd.port, n, seed=5)
        elapsed = time.monotonic() - started
        assert r.stdout[-3:] == b"200" and len(r.stdout) - 4 == n, r.stderr
        assert elapsed >= 4.0, f"the free tier carried {n} bytes in {elapsed:.1f} s"
    finally:
        proxy.terminate()


def test_a_user_whose_prepaid_balance_runs_out_is_cut_off_at_the_exit_with_a_clear_error(net):
    proxy = net.state["proxy"]
    refused = None
    for i in range(40):
        r = download(proxy, net.httpd.port, 8 * MiB, seed=10 + i, http=True)
        if r.stdout.endswith(b"402"):
            refused = r
            break
    assert refused is not None, "the exits kept serving a user whose prepaid balance ran out"
    body = refused.stdout.decode(errors="replace")
    assert "prepaid balance is used up" in body and "conet tx deposit" in body, body
    # SOCKS clients get reply 2, "connection not allowed by ruleset" (the closest SOCKS5 code).
    socks = download(proxy, net.httpd.port, 1024, seed=99)
    assert socks.returncode == 97 and b"SOCKS5 connection to 127.0.0.1. (2)" in socks.stderr, socks.stderr
    wallet = status(proxy)["wallet"]
    assert wallet["refused"] and "prepaid balance is used up" in wallet["refused"], wallet
    log = pathlib.Path(net.state["logs"]) / "proxy.log"
    assert re.search(r"an exit refused service: the wallet's prepaid balance is used up", log.read_text()), \
        log.read_text()[-2000:]
    # The exits claim what the balance holds (an exit that served past it
    # claims the largest earlier receipt the balance still pays), never more.
    wait_until(lambda: account(net, net.user)["prepaid"] < cost(MiB), 120,
               "the exits' claims to use up the prepaid balance")
