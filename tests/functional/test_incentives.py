"""The incentive protocol on a real network (issue 9): 4 validators and 4
staked relays; the validators' probe reports (measured here by the test,
playing each assigned prober, with a TCP connect to the relay) are scored at
the epoch's end and the epoch's emission is paid: a SIGKILLed relay earns
nothing, the others in proportion to stake × tier, the developer fund its
share, and nothing more than the emission is minted. Reports from a prober
not assigned to a node, or from the node's own operator, are refused."""
import json
import shlex
import socket
import subprocess
import time

import pytest

from netlib import Proc, free_testnet_base, wait_until, url_rpc as rpc, try_url_rpc as try_rpc

READY = 240      # seconds: ASan builds are slow, and the machine is shared
EPOCH = 50       # blocks per epoch: long enough for four CLI reports on a busy machine
INTERVAL = 300   # ms between blocks
EMISSION = 1_000_000
UNIT = 1_000_000


def probe(endpoint):
    """What a prober would report of `endpoint` ("host:port"): reachability and
    the connect time; the throughput of a reachable relay is taken as full."""
    host, port = endpoint.rsplit(":", 1)
    start = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            pass
    except OSError:
        return {"reachable": False, "rtt_ms": 0, "kbps": 0}
    return {"reachable": True, "rtt_ms": max(1, int((time.monotonic() - start) * 1000)), "kbps": 50_000}


def epoch_info(url):
    return rpc(url, "conet_getEpoch")


def wait_epoch_start(url, at_least, timeout):
    """Waits until epoch >= `at_least` has begun and most of it is still ahead."""
    def ready():
        e = try_rpc(url, "conet_getEpoch")
        return e is not None and e["epoch"] >= at_least and e["head"] < e["first_height"] + EPOCH // 5
    wait_until(ready, timeout, f"epoch {at_least} to start")
    return epoch_info(url)["epoch"]


def test_an_epochs_probe_reports_pay_the_live_relays_by_stake_and_tier_and_the_dead_one_nothing(conet, tmp_path):
    base = free_testnet_base(4, 4)
    if base is None:
        pytest.skip("no free block of ports for a testnet")
    dir_ = tmp_path / "tn"
    out = conet.run("testnet", "--dir", dir_, "--validators", "4", "--relays", "4", "--base-port", base,
                    "--block-interval-ms", INTERVAL, "--epoch-blocks", EPOCH, "--emission", EMISSION).stdout
    assert "query rewards" in out, out
    manifest = json.loads((dir_ / "testnet.json").read_text())
    genesis = json.loads((dir_ / "genesis.json").read_text())
    assert genesis["params"]["incentives"]["emission_per_epoch"] == EMISSION
    url = manifest["rpc_urls"][0]
    by_name = {n["name"]: n for n in manifest["nodes"]}
    procs = {}
    try:
        for name in by_name:
            ready = r"rpc on" if name.startswith("validator") else r"relay listening on"
            procs[name] = Proc(shlex.split(by_name[name]["command"]), ready, tmp_path / f"{name}.log", name,
                               timeout=READY)
        wait_until(lambda: (try_rpc(url, "conet_listNodes") or {}).get("total") == 4, 180,
                   "the four relays to register")
        records = rpc(url, "conet_listNodes")["nodes"]
        relay = {}  # name -> (noise key, operator, endpoint)
        for r in records:
            ep = r["record"]["endpoints"][0]
            port = int(ep.rsplit(":", 1)[1])
            relay[f"relay{port - base - 200}"] = (r["record"]["noise_key"], r["record"]["operator"], ep)
        assert sorted(relay) == ["relay0", "relay1", "relay2", "relay3"], relay

        # Each operator stakes (i + 1) CONET on its relay, all at once.
        stakers = []
        for i in range(4):
            d = dir_ / f"relay{i}"
            stakers.append(subprocess.Popen(
                [str(conet.binary), "tx", "stake", "--rpc", url, "--keystore", str(d / "wallet.json"),
                 "--password-file", str(d / "password"), "--node", relay[f"relay{i}"][0],
                 "--amount", str((i + 1) * UNIT), "--wait-seconds", "120"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True))
        for s in stakers:
            out, err = s.communicate(timeout=180)
            assert s.returncode == 0, err
        stakes = {n["record"]["noise_key"]: n["stake"] for n in rpc(url, "conet_listNodes")["nodes"]}
        assert sorted(stakes.values()) == [UNIT, 2 * UNIT, 3 * UNIT, 4 * UNIT], stakes

        # relay3 dies; in a fresh epoch every assigned prober reports what it measures.
        procs["relay3"].p.kill()
        procs["relay3"].p.wait(30)
        epoch = wait_epoch_start(url, epoch_info(url)["epoch"] + 1, 4 * EPOCH * INTERVAL / 1000 + 60)
        scores = {n["node"]: n for n in rpc(url, "conet_getScores")["nodes"]}
        reports = {v: [] for v in genesis["validators"]}
        for name, (key, _, ep) in relay.items():
            assert len(scores[key]["probers"]) == 3, scores[key]
            for prober in scores[key]["probers"]:
                reports[prober].append({"node": key, **probe(ep)})
        assert not any(e["reachable"] for e in reports[scores[relay["relay3"][0]]["probers"][0]]
                       if e["node"] == relay["relay3"][0])
        senders = []
        for i, v in enumerate(genesis["validators"]):
            if not reports[v]:
                continue
            path = tmp_path / f"report{i}.json"
            path.write_text(json.dumps(reports[v]))
            d = dir_ / f"validator{i}"
            senders.append(subprocess.Popen(
                [str(conet.binary), "tx", "probe-report", "--rpc", url, "--keystore", str(d / "wallet.json"),
                 "--password-file", str(d / "password"), "--report", str(path), "--epoch", str(epoch),
                 "--wait-seconds", "60"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True))
        for s in senders:
            out, err = s.communicate(timeout=120)
            assert s.returncode == 0, err

        # A validator not assigned to relay0, and relay0's own operator, cannot report on it.
        outsider = next(i for i, v in enumerate(genesis["validators"])
                        if v not in scores[relay["relay0"][0]]["probers"])
        d = dir_ / f"validator{outsider}"
        refused = conet.run("tx", "probe-report", "--rpc", url, "--keystore", d / "wallet.json", "--password-file",
                            d / "password", "--node", relay["relay0"][0], "--reachable", "--rtt-ms", "1",
                            "--kbps", "99999", "--epoch", epoch, check=False)
        assert refused.returncode != 0 and "not assigned to probe" in refused.stderr, refused
        d = dir_ / "relay0"
        refused = conet.run("tx", "probe-report", "--rpc", url, "--keystore", d / "wallet.json", "--password-file",
                            d / "password", "--node", relay["relay0"][0], "--reachable", "--rtt-ms", "1",
                            "--kbps", "99999", "--epoch", epoch, check=False)
        assert refused.returncode != 0 and "not assigned to probe" in refused.stderr, refused

        before = {name: rpc(url, "conet_getAccount", op)["balance"] for name, (_, op, _) in relay.items()}
        assert epoch_info(url)["epoch"] == epoch, "the reports must land inside the epoch they measured"
        wait_until(lambda: (try_rpc(url, "conet_getEpoch") or {}).get("epoch", 0) > epoch,
                   EPOCH * INTERVAL / 1000 + 60, "the epoch to end")

        paid = rpc(url, "conet_getRewards", None, epoch)
        summary = paid["summary"]
        assert summary["emission"] == EMISSION and summary["nodes_measured"] == 4, summary
        assert summary["nodes_paid"] == 3, summary
        by_address = {r["address"]: r for r in paid["rewards"]}
        node_pool = EMISSION * 7000 // 10_000
        total_stake = 6 * UNIT  # relays 0..2, all in the good tier
        for i in range(3):
            name = f"relay{i}"
            expected = node_pool * (i + 1) * UNIT // total_stake
            assert by_address[relay[name][1]]["node_reward"] == expected, (name, paid)
            # The operator's balance rose by exactly its reward.
            assert rpc(url, "conet_getAccount", relay[name][1])["balance"] == before[name] + expected
        assert relay["relay3"][1] not in by_address, "the killed relay earned"
        assert rpc(url, "conet_getAccount", relay["relay3"][1])["balance"] == before["relay3"]
        fund = epoch_info(url)["developer_fund"]
        assert by_address[fund["address"]]["fund_reward"] == EMISSION * 1000 // 10_000
        assert sum(r["total"] for r in paid["rewards"]) == summary["minted"] <= summary["emission"]
        scored = {n["node"]: n for n in rpc(url, "conet_getScores")["nodes"]}
        assert scored[relay["relay3"][0]]["last"]["tier"] == "fail"
        assert scored[relay["relay3"][0]]["failed_epochs"] == 1
        assert scored[relay["relay0"][0]]["last"]["tier"] == "good"
        assert scored[relay["relay0"][0]]["last"]["reports"] == 3

        # The latest reward comes with a proof, and the CLI prints the epoch.
        latest = rpc(url, "conet_getRewards", relay["relay2"][1])
        assert latest["latest"]["epoch"] == epoch and latest["proof"], latest
        text = conet.run("query", "rewards", "--rpc", url, "--epoch", epoch).stdout
        assert relay["relay2"][1] in text and relay["relay3"][1] not in text, text
        text = conet.run("query", "scores", "--rpc", url).stdout
        assert "fail" in text and "good" in text, text
    finally:
        for p in procs.values():
            p.kill()


def test_double_sign_evidence_from_anyone_slashes_the_validator_and_it_leaves_the_set(conet, tmp_path):
    base = free_testnet_base(4, 0)
    if base is None:
        pytest.skip("no free block of ports for a testnet")
    epoch_blocks = 10
    dir_ = tmp_path / "tn"
    conet.run("testnet", "--dir", dir_, "--validators", "4", "--relays", "0", "--base-port", base,
              "--block-interval-ms", "200", "--epoch-blocks", epoch_blocks, "--validator-slots", "8",
              "--min-validator-stake", UNIT)
    manifest = json.loads((dir_ / "testnet.json").read_text())
    genesis = json.loads((dir_ / "genesis.json").read_text())
    urls = manifest["rpc_urls"]
    procs = []
    try:
        for n in manifest["nodes"]:
            procs.append(Proc(shlex.split(n["command"]), r"rpc on", tmp_path / f"{n['name']}.log", n["name"],
                              timeout=READY))
        wait_until(lambda: (try_rpc(urls[0], "conet_blockNumber") or 0) >= 2, 120, "blocks")
        offender = genesis["validators"][3]
        epoch = epoch_info(urls[0])["epoch"]

        def sign(who, digest, vote_type="notarize"):
            d = dir_ / who
            return conet.run("debug", "sign-vote", "--keystore", d / "wallet.json", "--password-file",
                             d / "password", "--chain-id", genesis["chain_id"], "--epoch", epoch, "--type",
                             vote_type, "--view", 3, "--parent-view", 2, "--digest", digest).stdout.strip()

        a = sign("validator3", "11" * 32)
        b = sign("validator3", "22" * 32)
        other = sign("validator2", "22" * 32)
        user = dir_ / "user"

        def report(vote_a, vote_b):
            return conet.run("tx", "evidence", "--rpc", urls[1], "--keystore", user / "wallet.json",
                             "--password-file", user / "password", "--epoch", epoch, "--vote-a", vote_a,
                             "--vote-b", vote_b, "--wait-seconds", "60", check=False)

        # Two keys' votes are no evidence; the same vote twice is none either.
        refused = report(a, other)
        assert refused.returncode != 0 and "evidence refused" in refused.stderr, refused
        refused = report(a, a)
        assert refused.returncode != 0 and "evidence refused" in refused.stderr, refused
        fund_before = epoch_info(urls[0])["developer_fund"]["balance"]
        sent = report(a, b)
        assert sent.returncode == 0, sent.stderr
        bonds = {x["address"]: x for x in rpc(urls[0], "conet_getValidatorSet")["bonds_now"]}
        assert bonds[offender]["tombstoned"] is True and bonds[offender]["stake"] == UNIT - UNIT // 10, bonds
        assert epoch_info(urls[0])["developer_fund"]["balance"] == fund_before + UNIT // 10
        again = report(a, b)
        assert again.returncode != 0 and "already slashed" in again.stderr, again

        # From the next epoch the set is the other three, and they go on finalizing.
        slashed_in = epoch_info(urls[0])["epoch"]
        wait_until(lambda: (try_rpc(urls[0], "conet_getValidatorSet") or {}).get("epoch", 0) > slashed_in, 120,
                   "the next epoch")
        members = rpc(urls[0], "conet_getValidatorSet")["members"]
        assert offender not in members and len(members) == 3, members
        top = rpc(urls[0], "conet_blockNumber")
        wait_until(lambda: min(try_rpc(u, "conet_blockNumber") or 0 for u in urls[:3]) >= top + epoch_blocks, 120,
                   "the three to finalize without the slashed validator")
    finally:
        for p in procs:
            p.kill()
