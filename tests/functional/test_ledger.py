"""The ledger end to end (issue 4, in progress): a single validator, JSON-RPC,
the tx/query commands, and crash recovery with SIGKILL."""
import json
import signal
import socket
import threading
import urllib.error
import urllib.request

import pytest

from netlib import LyingRpc, Proc, free_port, wait_until


class Validator:
    def __init__(self, conet, tmp, fund=None):
        """A single-validator chain with a fresh validator key; `fund` is
        (address, amount) for the genesis balance, by default a fresh user wallet
        with 5000000."""
        tmp.mkdir(parents=True, exist_ok=True)
        self.conet, self.tmp = conet, tmp
        self.pw = tmp / "pw"
        self.pw.write_text("validator pw\n")
        self.validator = conet.run("wallet", "new", "--keystore", tmp / "val.json", "--password-file", self.pw,
                                   "--light").stdout.strip()
        self.user = conet.run("wallet", "new", "--keystore", tmp / "user.json", "--password-file", self.pw,
                              "--light").stdout.strip()
        funded, amount = fund or (self.user, 5000000)
        self.genesis = tmp / "genesis.json"
        conet.run("genesis", "new", "--out", self.genesis, "--validator", self.validator,
                  "--balance", f"{funded}={amount}")
        self.rpc_port = free_port()
        conet.run("node", "init", "--dir", tmp / "node", "--wallet-keystore", tmp / "val.json", "--password-file",
                  self.pw, "--listen", f"127.0.0.1:{free_port()}", "--validator", "--genesis", tmp / "genesis.json",
                  "--rpc", f"127.0.0.1:{self.rpc_port}")
        self.url = f"http://127.0.0.1:{self.rpc_port}"
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.proc = Proc([self.conet.binary, "node", "run", "--dir", self.tmp / "node", "--password-file", self.pw],
                         r"rpc on", self.tmp / f"validator{self.runs}.log", "validator")
        return self

    def post(self, body: bytes):
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def call(self, method, *params):
        status, body = self.post(json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params),
                                             "id": 1}).encode())
        doc = json.loads(body)
        assert "result" in doc, doc
        return doc["result"]


@pytest.fixture
def validator(conet, tmp_path):
    v = Validator(conet, tmp_path).start()
    yield v
    v.proc.kill()


def test_rpc_answers_spec_errors_and_stays_healthy(validator):
    cases = [
        (b"{not json", -32700),
        (b'{"jsonrpc":"2.0","method":"conet_blockNumber"', -32700),
        (b'{"jsonrpc":"2.0","method":"nope","id":1}', -32601),
        (b'{"jsonrpc":"2.0","method":"conet_getBlockByHeight","params":["x"],"id":1}', -32602),
        (b'{"jsonrpc":"2.0","method":"conet_getAccount","params":[42],"id":1}', -32602),
        (b'{"method":"conet_blockNumber","id":1}', -32600),
        (b"[]", -32600),
        (b'{"jsonrpc":"2.0","method":"conet_sendRawTransaction","params":["0x00"],"id":1}', -32002),
    ]
    for body, code in cases:
        status, answer = validator.post(body)
        assert json.loads(answer)["error"]["code"] == code, body
    # An oversized body is refused from its Content-Length, before it is read.
    with socket.create_connection(("127.0.0.1", validator.rpc_port), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 2097152\r\n\r\n" + b"[" * 1000)
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    status, answer = validator.post(b'[{"jsonrpc":"2.0","method":"conet_chainId","id":1},'
                                    b'{"jsonrpc":"2.0","method":"conet_blockNumber","id":2}, 5]')
    batch = json.loads(answer)
    assert len(batch) == 3 and batch[2]["error"]["code"] == -32600
    assert validator.proc.alive()
    assert isinstance(validator.call("conet_blockNumber"), int)


def test_transfer_is_committed_and_queryable_with_a_verified_proof(conet, validator):
    dest = "0x000000000000000000000000000000000000dEaD"
    out = conet.run("tx", "transfer", "--keystore", validator.tmp / "user.json", "--password-file", validator.pw,
                    "--rpc", validator.url, "--to", dest, "--amount", "1234", "--json")
    result = json.loads(out.stdout)
    assert result["status"] == "committed"
    assert validator.call("conet_getTransaction", result["id"])["status"] == "committed"
    account = json.loads(conet.run("query", "account", dest, "--rpc", validator.url, "--genesis", validator.genesis,
                                   "--json").stdout)
    assert account["balance"] == 1234 and account["proof_verified"] is True and account["certified"] is True
    sender = json.loads(conet.run("query", "account", validator.user, "--rpc", validator.url, "--genesis",
                                  validator.genesis, "--json").stdout)
    assert sender["balance"] == 5000000 - 1234 - 1 and sender["nonce"] == 1 and sender["proof_verified"] is True
    over = conet.run("tx", "transfer", "--keystore", validator.tmp / "user.json", "--password-file", validator.pw,
                     "--rpc", validator.url, "--to", dest, "--amount", "99999999999", check=False)
    assert over.returncode == 1 and "insufficient funds" in over.stderr  # refused at admission


def test_node_registration_stake_and_deposit(conet, validator, tmp_path):
    relay_dir = tmp_path / "relay"
    conet.run("node", "init", "--dir", relay_dir, "--wallet-keystore", validator.tmp / "user.json",
              "--password-file", validator.pw, "--listen", "127.0.0.1:9999", "--region", "DE")
    record = tmp_path / "record.json"
    record.write_text(conet.run("node", "record", "--dir", relay_dir, "--password-file", validator.pw).stdout)
    key = json.loads(record.read_text())["noise_key"]
    base = ["--keystore", validator.tmp / "user.json", "--password-file", validator.pw, "--rpc", validator.url]
    conet.run("tx", "register-node", *base, "--record", record)
    conet.run("tx", "stake", *base, "--node", key, "--amount", "1000")
    conet.run("tx", "deposit", *base, "--amount", "500")
    node = validator.call("conet_getNode", key)
    assert node["record"]["noise_key"] == key and node["stake"] == 1000
    assert validator.call("conet_listNodes", 0, 10)["total"] == 1
    assert validator.call("conet_getAccount", validator.user)["prepaid"] == 500


def test_sigkill_loses_no_committed_transaction(conet, validator):
    dest = "0x000000000000000000000000000000000000bEEF"
    committed = []
    for round_ in range(3):
        for _ in range(3):
            out = conet.run("tx", "transfer", "--keystore", validator.tmp / "user.json", "--password-file",
                            validator.pw, "--rpc", validator.url, "--to", dest, "--amount", "10", "--json")
            committed.append(json.loads(out.stdout)["id"])
        height = validator.call("conet_blockNumber")
        validator.proc.p.send_signal(signal.SIGKILL)
        validator.proc.p.wait()
        validator.start()
        assert validator.call("conet_blockNumber") >= height
        for tx in committed:
            assert validator.call("conet_getTransaction", tx)["status"] == "committed"
    assert validator.call("conet_getAccount", dest)["balance"] == 10 * len(committed)  # each exactly once
    assert validator.call("conet_getAccount", validator.user)["nonce"] == len(committed)


def test_websocket_subscription_delivers_new_headers(validator):
    import websocket  # Debian python3-websocket: an independent client implementation

    ws = websocket.create_connection(f"ws://127.0.0.1:{validator.rpc_port}/", timeout=30)
    try:
        def ask(payload):
            ws.send(payload if isinstance(payload, str) else json.dumps(payload))
            return json.loads(ws.recv())

        # Ordinary methods work over the socket, and errors keep it open.
        assert ask({"jsonrpc": "2.0", "method": "conet_chainId", "id": 1})["result"] == \
            validator.call("conet_chainId")
        assert ask("{not json")["error"]["code"] == -32700
        assert ask({"jsonrpc": "2.0", "method": "conet_subscribe", "params": ["gossip"], "id": 2})["error"][
            "code"] == -32602
        sub = ask({"jsonrpc": "2.0", "method": "conet_subscribe", "params": ["newHeads"], "id": 3})["result"]
        heights = []
        while len(heights) < 3:
            note = json.loads(ws.recv())
            assert note["method"] == "conet_subscription" and note["params"]["subscription"] == sub
            head = note["params"]["result"]
            assert len(head["certificate"]) == 1 and head["validators"] == [validator.validator]
            heights.append(head["header"]["height"])
        assert heights == list(range(heights[0], heights[0] + 3))

        def answer_to(request):  # notifications already queued may arrive first
            ws.send(json.dumps(request))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == request["id"]:
                    return message

        # At most 16 subscriptions per connection.
        for i in range(15):
            assert "result" in answer_to({"jsonrpc": "2.0", "method": "conet_subscribe", "params": ["newHeads"],
                                          "id": 10 + i})
        refused = answer_to({"jsonrpc": "2.0", "method": "conet_subscribe", "params": ["newHeads"], "id": 99})
        assert refused["error"]["code"] == -32002
        assert answer_to({"jsonrpc": "2.0", "method": "conet_unsubscribe", "params": [sub], "id": 4})["result"] is True
        assert answer_to({"jsonrpc": "2.0", "method": "conet_unsubscribe", "params": [sub], "id": 5})["result"] is False
    finally:
        ws.close()
    assert validator.proc.alive()
    assert validator.call("conet_blockNumber") >= heights[-1]


def test_query_account_refuses_a_forged_balance_with_a_self_consistent_proof(conet, validator, tmp_path):
    # The attacker runs its own chain (same chain id, its own validator) in which
    # the user holds 999999999, so its account answer carries a Merkle proof that
    # matches the state root in that same answer. Its RPC answers conet_getAccount
    # from that chain, claiming the real chain's head height, and everything else
    # from the real chain.
    fake = Validator(conet, tmp_path / "fake", fund=(validator.user, 999_999_999)).start()
    liars = []
    try:
        def account_from_fake(method, params, result):
            if method == "conet_getAccount":
                result["height"] = validator.call("conet_blockNumber")
            return result

        liars.append(LyingRpc(lambda m: fake.url if m == "conet_getAccount" else validator.url, account_from_fake))
        liars.append(LyingRpc(lambda m: fake.url))  # the fake chain's own certified headers too

        def query(url, *extra):
            return conet.run("query", "account", validator.user, "--rpc", url, "--json", *extra, check=False)

        honest = query(validator.url, "--genesis", validator.genesis)
        assert honest.returncode == 0, honest.stderr
        answer = json.loads(honest.stdout)
        assert answer["balance"] == 5000000 and answer["certified"] is True and answer["proof_verified"] is True

        # Without --genesis the forged answer cannot be told apart, and the output says it was not verified.
        trusting = query(liars[0].url)
        assert trusting.returncode == 0, trusting.stderr
        answer = json.loads(trusting.stdout)
        assert answer["balance"] == 999_999_999
        assert answer["proof_verified"] is False and answer["certified"] is False
        assert "on trust" in trusting.stderr

        refused = query(liars[0].url, "--genesis", validator.genesis)
        assert refused.returncode == 1, refused.stderr
        assert "does not match the certified state root" in refused.stderr, refused.stderr
        assert "999999999" not in refused.stdout

        wait_until(lambda: fake.call("conet_blockNumber") >= 1, 60, "the fake chain's first certified block")
        refused = query(liars[1].url, "--genesis", validator.genesis)
        assert refused.returncode == 1, refused.stderr
        assert "header certificate refused" in refused.stderr, refused.stderr
        assert "999999999" not in refused.stdout
        assert validator.proc.alive() and fake.proc.alive()
    finally:
        for liar in liars:
            liar.close()
        fake.proc.kill()
