"""The web dashboards (issue 11, docs/web.md) in a real browser: headless
Chromium, driven over the DevTools protocol, against a running devnet. Each
page must load without console errors or CSP violations and show live data
that matches JSON-RPC; the user page changes the route; a stopped relay shows
as down; a foreign Host header is refused. Screenshots of each page go to
$CONET_SCREENSHOTS (default build/screenshots); docs/screenshots holds the
current ones."""
import json
import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from browser import Browser
from netlib import url_rpc as rpc
from test_devnet import devnet  # noqa: F401  (the module-scoped devnet fixture: one devnet for these tests)

pytestmark = pytest.mark.once  # the pages and their servers behave alike in every build; run under ASan

REPO = pathlib.Path(__file__).resolve().parents[2]
SHOTS = pathlib.Path(os.environ.get("CONET_SCREENSHOTS", REPO / "build" / "screenshots"))
LIVE = 90  # seconds for a page to show what the network did (ASan builds are slow)
CURL_TIMEOUT = 120


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Browser(tmp_path_factory.mktemp("chromium")) as b:
        yield b


def conet_amount(units):
    """Base units as the pages print them: "1,234.5 CONET" (up to 6 decimals)."""
    text = f"{units / 1e6:,.6f}".rstrip("0").rstrip(".")
    return f"{text} CONET"


def status(devnet):
    with urllib.request.urlopen(devnet.state["status_url"], timeout=30) as r:
        return json.loads(r.read())


def curl_proxy(devnet, url, *extra):
    return subprocess.run(["curl", "-sS", "--fail", "--max-time", str(CURL_TIMEOUT), "--socks5-hostname",
                           devnet.state["proxy"], *extra, url], capture_output=True, timeout=CURL_TIMEOUT + 30)


def raw_get(url_base, path="/", host=None, method="GET", headers=(), body=b""):
    """One HTTP/1.1 request with exactly the Host given; (status, headers text, body)."""
    m = re.match(r"http://([^/:]+|\[[^\]]+\]):(\d+)", url_base)
    addr, port = m.group(1).strip("[]"), int(m.group(2))
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'{m.group(1)}:{port}'}", "Connection: close",
             *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((addr, port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode(errors="replace"), rest


class SlowSite:
    """Serves one download of `size` bytes in 64 KiB pieces, `pause` apart, so
    it lasts a few seconds: long enough for a page to watch it."""

    def __init__(self, size=8 << 20, pause=0.05):
        self.size, self.pause = size, pause
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/slow"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.server.accept()
        with conn:
            while b"\r\n\r\n" not in conn.recv(65536):
                pass
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.size}\r\nConnection: close\r\n\r\n".encode())
            piece = os.urandom(1 << 16)
            for _ in range(self.size >> 16):
                conn.sendall(piece)
                time.sleep(self.pause)

    def close(self):
        self.server.close()


def test_explorer_follows_the_head_live_and_shows_a_transfer(conet, devnet, browser):
    url = devnet.state["dashboards"]["explorer"]
    rpc_url = devnet.state["rpc_url"]
    page = browser.new_page()
    page.goto(url)
    first = page.wait_for("(t => t.startsWith('#') && Number(t.slice(1)))"
                          "(document.querySelector('#head-height').textContent)", LIVE, "a head on the page")
    # The head advances on screen with no reload (the newHeads WebSocket) and is the node's block.
    shown = page.wait_for(f"(e => Number(e.textContent.slice(1)) > {first} && [Number(e.textContent.slice(1)), "
                          "e.dataset.hash])(document.querySelector('#head-height'))", LIVE, "the head to advance")
    assert shown[0] <= rpc(rpc_url, "conet_blockNumber")
    assert rpc(rpc_url, "conet_getBlockByHeight", shown[0])["header"]["hash"] == shown[1]

    # A transfer made with `conet tx` appears among the latest transactions.
    to = "0x" + secrets.token_hex(20)
    sent = conet.json("tx", "transfer", "--rpc", rpc_url, "--keystore", devnet.state["wallets"]["user"],
                      "--password-file", devnet.state["password_file"], "--to", to, "--amount", "2500000")
    assert sent["status"] == "committed"
    page.wait_for(f"[...document.querySelectorAll('.tx-id')].some(e => e.textContent === {json.dumps(sent['id'])})",
                  LIVE, "the transfer among the latest transactions")
    # Its details: looking it up shows what it did, as the node answers.
    page.eval(f"document.querySelector('#search').value = {json.dumps(sent['id'])}; "
              "document.querySelector('#search-form').requestSubmit()")
    shown_tx = page.wait_for("(k => k && [k.textContent, document.querySelector('.tx-amount').textContent])"
                             "(document.querySelector('.tx-kind'))", LIVE, "the transaction's details")
    tx = rpc(rpc_url, "conet_getTransaction", sent["id"])
    assert tx["kind"] == "transfer" and tx["to"].lower() == to and tx["amount"] == 2_500_000, tx
    assert shown_tx == ["transfer", "2.5 CONET"], shown_tx
    # Looking up the recipient shows the balance the ledger holds for it.
    page.eval(f"document.querySelector('#search').value = {json.dumps(to)}; "
              "document.querySelector('#search-form').requestSubmit()")
    balance = page.wait_for("(document.querySelector('.account-balance') || {}).textContent", LIVE,
                            "the account's balance")
    assert rpc(rpc_url, "conet_getAccount", to)["balance"] == 2_500_000
    assert balance == "2.5 CONET"
    # Nodes by region: every relay the ledger lists, with its region.
    scores = rpc(rpc_url, "conet_getScores", 0, 500)
    rows = page.wait_for(f"(r => r.length >= {len(scores['nodes'])} && r)([...document.querySelectorAll("
                         "'#nodes tbody tr')].map(tr => tr.firstChild.textContent))", LIVE, "the nodes table")
    assert sorted(rows) == sorted(n["region"] for n in scores["nodes"])
    page.screenshot(SHOTS / "explorer.png")
    assert page.errors == []


def test_user_page_shows_bytes_growing_during_a_download(devnet, browser):
    page = browser.new_page()
    page.goto(devnet.state["dashboards"]["user"])
    page.wait_for("document.querySelector('#conn').textContent === 'Connected'", LIVE, "a connected proxy")
    before = int(page.wait_for("document.querySelector('#traffic-total').dataset.bytes", LIVE))
    site = SlowSite()
    try:
        download = subprocess.Popen(["curl", "-sS", "--fail", "--max-time", str(CURL_TIMEOUT), "--socks5-hostname",
                                     devnet.state["proxy"], "-o", "/dev/null", site.url],
                                    stderr=subprocess.PIPE)
        rate = page.wait_for("(t => /^[1-9]/.test(t) && t)(document.querySelector('#traffic-rate').textContent)",
                             LIVE, "a non-zero speed")
        assert download.poll() is None, f"the download ended before the page showed it moving ({rate})"
        assert download.wait(CURL_TIMEOUT + 30) == 0, download.stderr.read()
    finally:
        site.close()
    page.wait_for(f"Number(document.querySelector('#traffic-total').dataset.bytes) >= {before + site.size}", LIVE,
                  "the downloaded bytes in the total")
    assert status(devnet)["bytes_received"] >= before + site.size
    page.screenshot(SHOTS / "user.png")
    assert page.errors == []


def test_region_choice_on_the_user_page_changes_the_exit_of_the_next_request(devnet, browser):
    page = browser.new_page()
    page.goto(devnet.state["dashboards"]["user"])
    page.wait_for("document.querySelectorAll('#route-region option').length >= 3", LIVE, "the exit regions")
    for region in ("US", "DE", "US"):
        page.eval(f"document.querySelector('#route-region').value = '{region}'; "
                  "document.querySelector('#route-form').requestSubmit()")
        page.wait_for(f"document.querySelector('#route-result').textContent.includes('exit in {region}')", LIVE,
                      f"the route to {region}")
        out = curl_proxy(devnet, devnet.state["demo_url"])
        assert out.returncode == 0, out.stderr
        used = [c for c in status(devnet)["circuits"] if c["streams_opened"] > 0]
        assert used and all(c["regions"][-1] == region for c in used), used
        page.wait_for(f"(e => e.length > 0 && e.every(x => x.textContent === '{region}'))"
                      "([...document.querySelectorAll('.exit-region b')])", LIVE, f"only {region} exits listed")
    assert page.errors == []


def test_operator_page_shows_the_node_and_a_stopped_relay_as_down(devnet, browser):
    pages = devnet.state["dashboards"]["operator"]
    rpc_url = devnet.state["rpc_url"]
    page = browser.new_page()
    page.goto(pages[0])
    key = page.wait_for("(t => /^[0-9a-f]{64}$/.test(t) && t)(document.querySelector('#node-key').textContent)",
                        LIVE, "the node key")
    node = rpc(rpc_url, "conet_getNode", key)
    assert node["record"]["operator"] == page.text("#node-operator")
    page.wait_for(f"document.querySelector('#ledger-stake').textContent === '{node['stake'] // 1_000_000} CONET'",
                  LIVE, "the stake from the ledger")
    page.wait_for("document.querySelector('#ledger-state').textContent.includes('active')", LIVE)
    page.wait_for("document.querySelector('#live').textContent === '● live'", LIVE)
    # Probe scores per epoch: the page's rows are the ledger's history of this node, newest first.
    shown = page.wait_for("(r => r.length > 0 && r)([...document.querySelectorAll('#scores tbody tr')]"
                          ".map(tr => Number(tr.firstChild.textContent)))", LIVE, "the node's scored epochs")
    history = [e["epoch"] for e in rpc(rpc_url, "conet_getNodeHistory", key, 100)["epochs"]]
    assert shown == sorted(shown, reverse=True) and set(shown) <= set(history), (shown, history)
    page.wait_for("document.querySelector('#bytes-rate').textContent !== ''", LIVE, "a second sample of bytes")
    # Rewards and usage fees per epoch, as the ledger holds them for the operator.
    operator = page.text("#node-operator")
    deadline = time.monotonic() + LIVE
    while True:
        row = page.wait_for("(r => r && [...r.children].map(td => td.textContent))"
                            "(document.querySelector('#rewards tbody tr'))", LIVE, "a paid epoch")
        paid = rpc(rpc_url, "conet_getRewards", operator, int(row[0]))
        mine = [r for r in paid["rewards"] if r["address"].lower() == operator.lower()]
        expected = [conet_amount(mine[0]["node_reward"] if mine else 0), conet_amount(paid["usage_fees"])]
        if row[1] == expected[0] and row[3] == expected[1]:
            break
        assert time.monotonic() < deadline, (row, expected, paid)
        browser.pump(1)
    page.screenshot(SHOTS / "operator.png")
    assert page.errors == []

    # Freeze the last relay: its page must say it is not answering, then recover.
    last = browser.new_page()
    last.goto(pages[-1])
    last.wait_for("document.querySelector('#live').textContent === '● live'", LIVE)
    relay_dir = pathlib.Path(devnet.state["dir"]) / f"relay{len(pages) - 1}"
    pids = subprocess.run(["pgrep", "-f", f"node run --dir {relay_dir}( |$)"], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1, pids
    os.kill(int(pids[0]), signal.SIGSTOP)
    try:
        last.wait_for("document.querySelector('#live').textContent === '○ node not answering'", LIVE,
                      "the stopped relay shown as down")
        assert last.text("#banner")
    finally:
        os.kill(int(pids[0]), signal.SIGCONT)
    last.wait_for("document.querySelector('#live').textContent === '● live'", LIVE, "the relay back")


def test_dashboards_refuse_a_foreign_host_and_send_a_strict_csp(devnet):
    pages = {"user": devnet.state["dashboards"]["user"], "explorer": devnet.state["dashboards"]["explorer"],
             "operator": devnet.state["dashboards"]["operator"][0]}
    for name, url in pages.items():
        code, head, body = raw_get(url)
        assert code == 200, (name, head)
        assert "Content-Security-Policy: default-src 'none'; script-src 'self'" in head, (name, head)
        assert b"<script src=\"/assets/common.js\">" in body
        for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
            code, head, body = raw_get(url, host=host)
            assert code == 403, (name, host, head)
            assert b"DNS-rebinding" in body
    # The proxy's route cannot be changed by another site's page.
    user = pages["user"]
    body = b'{"hops": 3, "exit_region": ""}'
    code, _, answer = raw_get(user, "/route", method="POST", body=body,
                              headers=["Content-Type: application/json", "Origin: http://evil.example"])
    assert code == 403, answer
    code, _, answer = raw_get(user, "/route", method="POST", body=body, headers=["Content-Type: text/plain"])
    assert code == 400, answer
    code, _, answer = raw_get(user, "/route", method="POST", body=body, host="evil.example",
                              headers=["Content-Type: application/json"])
    assert code == 403, answer
    code, _, answer = raw_get(user, "/route", method="POST", body=b'{"hops": 7, "exit_region": ""}',
                              headers=["Content-Type: application/json"])
    assert code == 400 and b"hops must be 2 or 3" in answer
    code, _, answer = raw_get(user, "/route", method="POST", body=b'{"hops": 2, "exit_region": "XX"}',
                              headers=["Content-Type: application/json"])
    assert code == 400 and b"no known exit" in answer
    assert status(devnet)["hops"] == 2  # none of these changed it
