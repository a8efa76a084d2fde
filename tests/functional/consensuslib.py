"""Helpers for the multi-validator functional tests (test_consensus.py): a
network of n validators running Simplex on loopback, per-pair TCP forwarders
that can be cut, a JSON-RPC client, and chain comparison."""
import http.client
import json
import os
import pathlib
import signal
import struct
import subprocess
import time

from netlib import Forwarder, free_port

RPC_TIMEOUT = 10  # seconds, one JSON-RPC call
START_TIMEOUT = 60  # seconds from exec to an answering RPC (slow shared machines, debug builds)
BATCH = 50  # JSON-RPC calls per HTTP request (the server takes at most 100)


class RpcError(Exception):
    pass


def rpc_batch(port, calls, timeout=RPC_TIMEOUT):
    """Sends [(method, params), ...] as one JSON-RPC batch; returns the results in order.
    Raises OSError when the node does not answer, RpcError when a call failed."""
    body = json.dumps([{"jsonrpc": "2.0", "method": m, "params": list(p), "id": i}
                       for i, (m, p) in enumerate(calls)])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    if isinstance(answer, dict):  # a whole-batch error
        raise RpcError(answer.get("error"))
    by_id = {a.get("id"): a for a in answer}
    out = []
    for i, (m, p) in enumerate(calls):
        a = by_id.get(i)
        if a is None or "result" not in a:
            raise RpcError(f"{m}{list(p)}: {a}")
        out.append(a["result"])
    return out


def rpc(port, method, *params, timeout=RPC_TIMEOUT):
    return rpc_batch(port, [(method, params)], timeout)[0]


def wait_until(predicate, timeout, what, interval=0.1):
    """Polls `predicate` (exceptions count as "not yet") until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, RpcError, ValueError) as e:
            last_error = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


class Node:
    """One validator: its directory, its ports and its process (own process group)."""

    def __init__(self, net, index, address, keystore):
        self.net = net
        self.index = index
        self.address = address
        self.keystore = keystore
        self.dir = net.tmp / f"v{index}"
        self.rpc_port = free_port()
        self.consensus_port = free_port()
        self.proc = None
        self.runs = 0
        self.log_path = None

    def init(self, peers):
        self.net.conet.run("node", "init", "--dir", self.dir, "--wallet-keystore", self.keystore, "--password-file",
                           self.net.password_file, "--listen", "127.0.0.1:0", "--genesis", self.net.genesis,
                           "--validator", "--validator-peers", ",".join(peers), "--rpc",
                           f"127.0.0.1:{self.rpc_port}", "--block-interval-ms", self.net.block_interval_ms,
                           "--no-exit")

    def spawn(self):
        """Starts the process without waiting for it."""
        assert self.proc is None or self.proc.poll() is not None, f"v{self.index} is already running"
        self.runs += 1
        self.log_path = self.net.tmp / f"v{self.index}.run{self.runs}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([str(self.net.conet.binary), "node", "run", "--dir", str(self.dir),
                                          "--password-file", str(self.net.password_file)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        return self.proc

    def start(self, timeout=START_TIMEOUT):
        """Starts the process and waits until its RPC answers."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"v{self.index} exited {self.proc.returncode} while starting:\n{self.log_tail()}")
            return self.height() is not None

        wait_until(ready, timeout, f"v{self.index}'s RPC")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL to the process group, then reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def terminate(self, timeout=30):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc.wait()

    def log_tail(self, chars=3000):
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def call(self, method, *params, timeout=RPC_TIMEOUT):
        return rpc(self.rpc_port, method, *params, timeout=timeout)

    def height(self):
        return self.call("conet_blockNumber")

    def blocks(self, lo, hi):
        """Blocks lo..hi inclusive, one conet_getBlockByHeight per height, batched."""
        out = []
        for start in range(lo, hi + 1, BATCH):
            calls = [("conet_getBlockByHeight", (h,)) for h in range(start, min(hi, start + BATCH - 1) + 1)]
            out += rpc_batch(self.rpc_port, calls, timeout=30)
        return out

    @property
    def url(self):
        return f"http://127.0.0.1:{self.rpc_port}"


class ValidatorNet:
    """n validators of one genesis on loopback, plus `senders` funded user wallets.
    With `forwarders`, every dial i -> j goes through its own Forwarder
    (self.fwd[(i, j)]), so links can be cut per direction."""

    def __init__(self, conet, tmp, n=4, senders=0, block_interval_ms=200, forwarders=False, chain_id=55,
                 sender_balance=10 ** 12, epoch_blocks=0):
        self.conet = conet
        self.tmp = pathlib.Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.block_interval_ms = block_interval_ms
        self.password_file = self.tmp / "password.txt"
        self.password_file.write_text("consensus test password\n")
        self.genesis = self.tmp / "genesis.json"
        self.nodes = []
        for i in range(n):
            keystore = self.tmp / f"validator{i}.json"
            self.nodes.append(Node(self, i, self.new_wallet(keystore), keystore))
        self.senders = []  # (address, keystore)
        for s in range(senders):
            keystore = self.tmp / f"sender{s}.json"
            self.senders.append((self.new_wallet(keystore), keystore))
        self.epoch_blocks = epoch_blocks
        args = ["genesis", "new", "--out", self.genesis, "--chain-id", chain_id, "--epoch-blocks", epoch_blocks]
        for node in self.nodes:
            args += ["--validator", node.address]
        for address, _ in self.senders:
            args += ["--balance", f"{address}={sender_balance}"]
        conet.run(*args)
        self.fwd = {}
        if forwarders:
            for i in range(n):
                for j in range(n):
                    if i != j:
                        self.fwd[(i, j)] = Forwarder(self.nodes[j].consensus_port, f"{i}->{j}")
        for i, node in enumerate(self.nodes):
            node.init(self.peers_for(i))

    def new_wallet(self, keystore):
        return self.conet.json("wallet", "new", "--keystore", keystore, "--password-file", self.password_file,
                               "--light")["address"]

    def peers_for(self, i):
        """Node i's validator_peers: its own real port, forwarders (if any) for the others."""
        out = []
        for j, node in enumerate(self.nodes):
            port = self.fwd[(i, j)].port if (i, j) in self.fwd else node.consensus_port
            out.append(f"127.0.0.1:{port}")
        return out

    def start(self):
        for node in self.nodes:
            node.spawn()
        for node in self.nodes:
            node.wait_ready()
        return self

    def heights(self):
        return [node.height() for node in self.nodes]

    def wait_all_at_least(self, height, timeout, what=""):
        """Waits until every node's height is >= height; returns the heights."""
        return wait_until(lambda: (lambda hs: hs if min(hs) >= height else None)(self.heights()), timeout,
                          f"every node at height >= {height} {what}(heights now: {self.heights_or_down()})")

    def heights_or_down(self):
        out = []
        for node in self.nodes:
            try:
                out.append(node.height())
            except (OSError, RpcError) as e:
                out.append(f"down ({e.__class__.__name__})")
        return out

    def stop(self):
        for node in self.nodes:
            node.kill()
        for f in self.fwd.values():
            f.close()

    def logs(self, chars=2500):
        return "\n".join(f"--- v{n.index} ({n.log_path}) ---\n{n.log_tail(chars)}" for n in self.nodes)


def assert_same_chain(nodes, top):
    """Every node's blocks 1..top are identical (hash, parent link, view order,
    transactions); returns node 0's blocks. Block 0 is genesis."""
    chains = [node.blocks(1, top) for node in nodes]
    reference = chains[0]
    for node, chain in zip(nodes[1:], chains[1:]):
        for h, (a, b) in enumerate(zip(reference, chain), start=1):
            assert a["header"]["hash"] == b["header"]["hash"], \
                f"fork at height {h}: v{nodes[0].index} has {a['header']}, v{node.index} has {b['header']}"
            assert a["transactions"] == b["transactions"], f"same hash, different transactions at {h}"
    for h, block in enumerate(reference, start=1):
        header = block["header"]
        assert header["height"] == h
        if h > 1:
            parent = reference[h - 2]["header"]
            assert header["parent"] == parent["hash"], f"block {h} does not link to block {h - 1}"
            assert header["parent_view"] == parent["view"] and header["view"] > parent["view"], header
    return reference


def assert_certificate_shape(certificate, n, quorum):
    indices = [c["validator"] for c in certificate]
    assert len(indices) >= quorum, f"certificate with {len(indices)} votes, quorum {quorum}: {certificate}"
    assert len(set(indices)) == len(indices), f"duplicate signer: {indices}"
    assert indices == sorted(indices), f"unsorted signers: {indices}"
    assert all(0 <= i < n for i in indices), indices
    for c in certificate:
        sig = c["signature"]
        assert sig.startswith("0x") and len(sig) == 2 + 130 and int(sig[2:], 16) >= 0, sig


def journal_frames(data: bytes):
    """Frame offsets of a consensus journal: u32 length LE | u32 CRC-32C | payload."""
    offsets = []
    at = 0
    while at + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, at)
        if at + 8 + length > len(data):
            break
        offsets.append((at, length))
        at += 8 + length
    return offsets
