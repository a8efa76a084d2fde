"""Simplex among 4 real validator processes on loopback (docs/consensus.md):
crash-restart under load, a 2-2 split through cuttable forwarders, and the
start-up refusals (corrupt journal, wallet not in the genesis).

Fault schedules are drawn from a seed printed in the output; set
CONET_CONSENSUS_SEED to replay one."""
import json
import os
import random
import subprocess
import threading
import time
from collections import Counter

import pytest

from consensuslib import (RpcError, ValidatorNet, assert_certificate_shape, assert_same_chain, journal_frames,
                          rpc_batch, wait_until)

N = 4
QUORUM = 3  # n - f with f = 1
EPOCH_BLOCKS = 7
FAULT_SECONDS = float(os.environ.get("CONET_CONSENSUS_FAULT_SECONDS", "60"))


def seed_for(test_name):
    seed = int(os.environ.get("CONET_CONSENSUS_SEED", "0")) or (sum(map(ord, test_name)) * 7919)
    print(f"{test_name}: seed {seed} (replay with CONET_CONSENSUS_SEED={seed})", flush=True)
    return seed


@pytest.fixture
def make_net(conet, tmp_path):
    nets = []

    def make(**kwargs):
        net = ValidatorNet(conet, tmp_path / f"net{len(nets)}", n=N, **kwargs)
        nets.append(net)
        return net

    yield make
    for net in nets:
        net.stop()


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def __call__(self, what):
        print(f"[{time.monotonic() - self.t0:6.1f} s] {what}", flush=True)


def random_address(rng):
    return "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))


class TransferClient:
    """One thread per funded sender: sign a transfer to a fresh random
    address with `conet tx transfer --no-wait`, send it to a random validator
    that is up, then poll validators for its status for a while, and repeat.
    Records what validators said: accepted ids and reported commitments."""

    POLL_SECONDS = 8

    def __init__(self, conet, net, seed):
        self.conet, self.net = conet, net
        self.seed = seed
        self.lock = threading.Lock()
        self.up = set(range(len(net.nodes)))
        self.accepted = {}  # id -> {"sender", "to", "amount", "node"}
        self.committed = {}  # id -> (height, index) as first reported
        self.refused = Counter()
        self.failures = []
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True, name=f"sender{s}")
                        for s in range(len(net.senders))]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)
            assert not t.is_alive(), f"{t.name} did not stop"
        if self.failures:
            raise AssertionError(f"client threads failed: {self.failures}")

    def set_up(self, index, up):
        with self.lock:
            (self.up.add if up else self.up.discard)(index)

    def _pick(self, rng, prefer=None):
        with self.lock:
            up = sorted(self.up)
        if prefer in up:
            return self.net.nodes[prefer]
        return self.net.nodes[rng.choice(up)] if up else None

    def _run(self, s):
        try:
            self._send_loop(s)
        except Exception as e:  # reported by stop(), not lost in a thread
            with self.lock:
                self.failures.append(f"sender{s}: {e!r}")
            self.stop_event.set()

    def _send_loop(self, s):
        rng = random.Random(self.seed * 1000 + s)
        address, keystore = self.net.senders[s]
        while not self.stop_event.is_set():
            node = self._pick(rng)
            if node is None:
                self.stop_event.wait(0.1)
                continue
            to, amount = random_address(rng), rng.randint(1, 1_000_000)
            out = self.conet.run("tx", "transfer", "--keystore", keystore, "--password-file", self.net.password_file,
                                 "--rpc", node.url, "--to", to, "--amount", amount, "--no-wait", "--json",
                                 check=False, timeout=60)
            if out.returncode != 0:
                with self.lock:
                    self.refused[out.stderr.strip().split("\n")[-1][:80]] += 1
                self.stop_event.wait(0.2)
                continue
            tx = json.loads(out.stdout)["id"]
            with self.lock:
                self.accepted[tx] = {"sender": address, "to": to, "amount": amount, "node": node.index}
            deadline = time.monotonic() + self.POLL_SECONDS
            while time.monotonic() < deadline and not self.stop_event.is_set():
                asked = self._pick(rng, prefer=node.index)
                try:
                    status = asked.call("conet_getTransaction", tx) if asked else None
                except (OSError, RpcError):
                    status = None
                if status and status["status"] == "committed":
                    with self.lock:
                        self.committed.setdefault(tx, (status["height"], status["index"]))
                    break
                self.stop_event.wait(0.1)


def test_four_validators_survive_sigkill_and_restart_across_epochs(conet, make_net):
    """SIGKILL under load, with an epoch every EPOCH_BLOCKS blocks: each
    boundary swaps the consensus engine and its journal while validators die
    and restart (the set is the genesis set in every epoch)."""
    clock = Clock()
    seed = seed_for("test_four_validators_survive_sigkill_and_restart")
    rng = random.Random(seed)
    net = make_net(senders=4, block_interval_ms=200, epoch_blocks=EPOCH_BLOCKS)
    net.start()
    clock("4 validators answering RPC")
    net.wait_all_at_least(3, 60)
    clock(f"heights {net.heights()}")

    client = TransferClient(conet, net, seed)
    client.start()
    faults_start_height = max(net.heights())
    deadline = time.monotonic() + FAULT_SECONDS
    kills = 0
    try:
        while True:
            # The schedule of faults, not a synchronization: the test waits on RPC answers below.
            gap = rng.uniform(3, 6)
            if time.monotonic() + gap > deadline:
                break
            if client.stop_event.wait(gap):
                break  # a client thread failed: stop() below reports it
            victim = net.nodes[rng.randrange(N)]
            pause = rng.uniform(0.2, 1.5)
            client.set_up(victim.index, False)
            victim.kill()
            kills += 1
            clock(f"SIGKILL v{victim.index} (kill {kills}); restart in {pause:.1f} s")
            time.sleep(pause)
            victim.start()
            client.set_up(victim.index, True)
            clock(f"v{victim.index} restarted (run {victim.runs}), heights {net.heights_or_down()}")
    finally:
        client.stop()
    faults_end_height = max(net.heights())
    clock(f"faults over: {kills} kills; height {faults_start_height} -> {faults_end_height}; "
          f"{len(client.accepted)} accepted, {len(client.committed)} reported committed, refused {dict(client.refused)}")
    assert kills >= FAULT_SECONDS // 6 - 1, kills
    # One validator down at a time leaves a quorum of 3: the chain must grow through the faults.
    assert faults_end_height >= faults_start_height + 20, (faults_start_height, faults_end_height)

    # Recovery: every node, including the last one restarted, goes past the highest height seen.
    net.wait_all_at_least(faults_end_height + 5, 90, "after the faults ")
    clock(f"all recovered: heights {net.heights()}")
    # And keeps going: at least 10 blocks on every node within 30 s.
    base, t = min(net.heights()), time.monotonic()
    net.wait_all_at_least(base + 10, 30, "10 blocks after recovery ")
    clock(f"+10 blocks on every node in {time.monotonic() - t:.1f} s")

    # Late commitments: ask one node about every accepted transaction.
    ids = sorted(client.accepted)
    statuses = {}
    for start in range(0, len(ids), 50):
        chunk = ids[start:start + 50]
        for tx, st in zip(chunk, rpc_batch(net.nodes[0].rpc_port, [("conet_getTransaction", (tx,)) for tx in chunk])):
            statuses[tx] = st
    late = {tx: (st["height"], st["index"]) for tx, st in statuses.items()
            if st["status"] == "committed" and tx not in client.committed}
    for tx, where in client.committed.items():
        assert statuses[tx]["status"] == "committed", f"{tx} was reported committed at {where}, now {statuses[tx]}"
    committed = {**client.committed, **late}
    top = max([min(net.heights())] + [h for h, _ in committed.values()])
    net.wait_all_at_least(top, 60)

    chain = assert_same_chain(net.nodes, top)
    clock(f"blocks 1..{top} identical on all {N} nodes")

    where = {}
    seen = Counter()
    for block in chain:
        for i, tx in enumerate(block["transactions"]):
            seen[tx] += 1
            where[tx] = (block["header"]["height"], i)
    duplicates = [tx for tx, c in seen.items() if c > 1]
    assert not duplicates, f"transactions final twice: {duplicates[:5]}"
    for tx, (height, index) in committed.items():
        assert seen[tx] == 1, f"{tx} reported committed at {height} but found {seen[tx]} times in 1..{top}"
        assert where[tx] == (height, index), (tx, where[tx], (height, index))
    unknown = [tx for tx in seen if tx not in client.accepted]
    print(f"committed: {len(client.committed)} reported during the run + {len(late)} later = {len(committed)} "
          f"of {len(client.accepted)} accepted; {len(seen)} transactions in blocks 1..{top} "
          f"({len(unknown)} not known to the client)")
    # Release builds commit ~300 here on 2 cores; 30 leaves room for debug builds and a busy machine.
    assert len(committed) >= 30, f"only {len(committed)} transfers committed in {FAULT_SECONDS} s"

    # Exactly-once execution: every recipient is fresh and got one transfer.
    recipients = [(client.accepted[tx]["to"], client.accepted[tx]["amount"]) for tx in sorted(committed)]
    for start in range(0, len(recipients), 50):
        chunk = recipients[start:start + 50]
        accounts = rpc_batch(net.nodes[1].rpc_port, [("conet_getAccount", (to,)) for to, _ in chunk], timeout=30)
        for (to, amount), account in zip(chunk, accounts):
            assert account["balance"] == amount, (to, amount, account["balance"])

    # Blocks finalized directly carry their finalization; the others were finalized by a descendant.
    certified = [block for block in chain if block["certificate"]]
    for block in certified:
        assert_certificate_shape(block["certificate"], N, QUORUM)
    print(f"{len(certified)} of {top} blocks carry their own finalization certificate")
    # Nothing extends an epoch's last block inside its epoch, so each one is
    # finalized by a certificate of its own: its view's or a re-proposal's.
    ends = [block for block in chain if block["header"]["height"] % EPOCH_BLOCKS == 0]
    assert len(ends) >= 5, f"only {len(ends)} epochs ended in 1..{top}"
    for block in ends:
        assert block["certificate"], f"epoch end {block['header']['height']} has no certificate of its own"
    again = [b for b in ends if "certificate_reproposal" in b]
    for b in again:
        assert b["certificate_reproposal"]["view"] > b["header"]["view"], b
    print(f"{len(ends)} epochs ended; {len(again)} last blocks were finalized through a re-proposal")

    # The head's finalization on every node: a quorum of distinct signers, and
    # `conet query --genesis` verifies it against the genesis validators.
    for node in net.nodes:
        head = node.call("conet_getHeader")
        assert_certificate_shape(head["certificate"], N, QUORUM)
        answer = json.loads(conet.run("query", "account", net.senders[0][0], "--rpc", node.url, "--genesis",
                                      net.genesis, "--json").stdout)
        assert answer["certified"] is True and answer["proof_verified"] is True, answer
    clock("done")


@pytest.mark.once
def test_two_two_split_stalls_without_fork_and_resumes(make_net):
    clock = Clock()
    net = make_net(forwarders=True, block_interval_ms=200)
    net.start()
    net.wait_all_at_least(10, 60, "through the forwarders ")
    clock(f"running through {len(net.fwd)} forwarders: heights {net.heights()}")

    side = {0: "a", 1: "a", 2: "b", 3: "b"}
    cross = [f for (i, j), f in net.fwd.items() if side[i] != side[j]]
    assert len(cross) == 8
    for f in cross:
        f.cut()
    at_cut = net.heights()
    clock(f"cut {{0,1}} | {{2,3}} at heights {at_cut}")

    # No quorum on either side (3 of 4 needed): watch for 10 s.
    ceiling = max(at_cut) + 2
    hashes = {}  # height -> hash, across all nodes
    observe_until = time.monotonic() + 10
    samples = 0
    while time.monotonic() < observe_until:
        for node in net.nodes:
            h = node.height()
            assert h <= ceiling, f"v{node.index} at height {h} during the split (at the cut: {at_cut})"
            if h > 0:
                block_hash = node.call("conet_getBlockByHeight", h)["header"]["hash"]
                assert hashes.setdefault(h, block_hash) == block_hash, f"fork at height {h} during the split"
        samples += 1
        time.sleep(0.25)  # sampling interval of the observation window
    during = net.heights()
    refused = sum(f.refused for f in cross)
    clock(f"after 10 s of split ({samples} samples): heights {during}, {refused} dials refused by the cut")
    assert max(during) <= ceiling, during
    assert refused > 0, "no validator redialed across the cut"
    assert all(node.alive() for node in net.nodes)

    for f in cross:
        f.heal()
    t = time.monotonic()
    net.wait_all_at_least(max(during) + 5, 90, "after healing ")
    clock(f"healed: every node +5 past {max(during)} in {time.monotonic() - t:.1f} s: heights {net.heights()}")

    # Then 3 | 1: the three keep a quorum and go on, the one alone stays put, and catches up once healed.
    alone, rest = net.nodes[3], net.nodes[:3]
    isolating = [f for (i, j), f in net.fwd.items() if 3 in (i, j)]
    for f in isolating:
        f.cut()
    alone_at_cut = alone.height()
    base = max(n.height() for n in rest)
    t = time.monotonic()
    wait_until(lambda: min(n.height() for n in rest) >= base + 5, 90, "the three to go on without v3")
    clock(f"v3 alone: the others +5 past {base} in {time.monotonic() - t:.1f} s; v3 at {alone.height()} "
          f"(at the cut: {alone_at_cut})")
    assert alone.height() <= alone_at_cut + 2
    for f in isolating:
        f.heal()
    target = max(n.height() for n in rest)
    t = time.monotonic()
    wait_until(lambda: alone.height() >= target, 90, f"v3 to catch up to {target}")
    clock(f"v3 caught up to {target} in {time.monotonic() - t:.1f} s")
    net.wait_all_at_least(target + 3, 60)

    top = min(net.heights())
    chain = assert_same_chain(net.nodes, top)
    for h, block_hash in hashes.items():
        assert chain[h - 1]["header"]["hash"] == block_hash, f"height {h} changed after the split"
    for node in net.nodes:
        assert_certificate_shape(node.call("conet_getHeader")["certificate"], N, QUORUM)
    clock(f"blocks 1..{top} identical on all nodes")


@pytest.mark.once
def test_corrupt_journal_and_foreign_wallet_refuse_to_start(conet, make_net):
    clock = Clock()
    net = make_net(block_interval_ms=200)
    net.start()
    net.wait_all_at_least(10, 60)
    clock(f"heights {net.heights()}")

    victim = net.nodes[0]
    victim.kill()
    journal = victim.dir / "consensus" / "consensus.journal"
    data = bytearray(journal.read_bytes())
    frames = journal_frames(bytes(data))
    assert sum(8 + length for _, length in frames) == len(data), "journal does not parse as whole frames"
    assert len(frames) >= 10, len(frames)
    offset, length = frames[len(frames) // 2]
    flip_at = offset + 8 + length // 2
    data[flip_at] ^= 0x40
    journal.write_bytes(bytes(data))
    clock(f"flipped byte {flip_at} in frame at offset {offset} of {len(frames)} frames ({len(data)} bytes)")

    proc = victim.spawn()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"started with a corrupt journal:\n{victim.log_tail()}")
    output = victim.log_tail(20000)
    assert proc.returncode != 0, output
    assert str(journal) in output and f"corrupt record at offset {offset} " in output, output
    assert journal.read_bytes() == bytes(data), "the corrupt journal was modified"
    clock(f"refused, exit {proc.returncode}: {[l for l in output.splitlines() if 'corrupt' in l][0][-160:]}")

    # The same journal with the byte restored starts and rejoins.
    data[flip_at] ^= 0x40
    journal.write_bytes(bytes(data))
    victim.start()
    others = max(n.height() for n in net.nodes[1:])
    wait_until(lambda: victim.height() >= others + 3, 60, "v0 to rejoin with its repaired journal")
    clock(f"v0 rejoined at {victim.height()}")

    # A torn tail (nothing intact after the damage) is cut back and the node starts.
    torn = net.nodes[1]
    torn.kill()
    journal1 = torn.dir / "consensus" / "consensus.journal"
    data1 = journal1.read_bytes()
    last_offset, last_length = journal_frames(data1)[-1]
    journal1.write_bytes(data1[:last_offset + 8 + last_length // 2])
    torn.start()
    others = max(n.height() for n in net.nodes if n is not torn)
    wait_until(lambda: torn.height() >= others + 3, 60, "v1 to rejoin after its torn tail was cut")
    assert journal1.read_bytes()[:last_offset] == data1[:last_offset]
    clock(f"v1 rejoined at {torn.height()} after a torn tail")

    # A wallet that is not a genesis validator.
    stranger = net.tmp / "stranger.json"
    address = net.new_wallet(stranger)
    conet.run("node", "init", "--dir", net.tmp / "stranger", "--wallet-keystore", stranger, "--password-file",
              net.password_file, "--listen", "127.0.0.1:0", "--genesis", net.genesis, "--validator",
              "--validator-peers", ",".join(net.peers_for(0)), "--no-exit")
    out = conet.run("node", "run", "--dir", net.tmp / "stranger", "--password-file", net.password_file,
                    check=False, timeout=60)
    assert out.returncode != 0, out
    assert f"{address} is not a validator in the genesis" in out.stderr, out.stderr
    assert all(node.alive() for node in net.nodes)
    clock("a foreign wallet is refused")
