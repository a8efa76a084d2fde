"""The incentive protocol on a real network (issue 9): 4 validators that
probe by themselves (circuits through each assigned relay carrying a
challenge to their echo destination) and 4 staked relays. Each epoch's
reports are scored at its end and its emission paid: while all four serve,
all four earn in proportion to stake × tier and the four validators for the
votes the blocks carried; after relay3 is SIGKILLed, it
earns nothing for the epochs it is down and the others go on earning, the
developer fund gets its share and nothing more than the emission is minted.
Reports from a prober not assigned to a node, or from the node's own
operator, are refused; double-sign evidence slashes and tombstones; a grant
is paid once more than 2/3 of the validators approve."""
import json
import shlex
import subprocess

import pytest

from netlib import Proc, free_testnet_base, wait_until, url_rpc as rpc, try_url_rpc as try_rpc

READY = 240      # seconds: ASan builds are slow, and the machine is shared
EPOCH = 40       # blocks per epoch: every prober must finish its circuits and report within one
INTERVAL = 300   # ms between blocks
EMISSION = 1_000_000
UNIT = 1_000_000
EPOCH_S = EPOCH * INTERVAL / 1000


def epoch_info(url):
    return rpc(url, "conet_getEpoch")


def wait_paid(url, epoch, what):
    wait_until(lambda: (try_rpc(url, "conet_getEpoch") or {}).get("epoch", 0) > epoch, 3 * EPOCH_S + 120, what)
    return rpc(url, "conet_getRewards", None, epoch)


def metric_total(url, name):
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def check_paid_by_stake_and_tier(paid, scores, relays):
    """Every relay in `relays` (name -> (key, operator)) was paid exactly its
    share of the node pool by stake × tier multiplier."""
    node_pool = EMISSION * 7000 // 10_000
    weight = {name: scores[key]["stake"] * scores[key]["last"]["multiplier_bps"] for name, (key, _) in relays.items()}
    total = sum(weight.values())
    assert total > 0, scores
    by_address = {r["address"]: r for r in paid["rewards"]}
    for name, (key, op) in relays.items():
        expected = node_pool * weight[name] // total
        got = by_address.get(op, {}).get("node_reward", 0)
        assert got == expected, (name, expected, got, paid, scores[key])
        assert scores[key]["last"]["reward"] == expected


def start_testnet(conet, tmp_path, relays, *args):
    """Writes a testnet of 4 validators and `relays` relays on free ports and
    starts every node; returns (dir, manifest, genesis, base port, procs)."""
    base = free_testnet_base(4, relays)
    if base is None:
        pytest.skip("no free block of ports for a testnet")
    dir_ = tmp_path / "tn"
    out = conet.run("testnet", "--dir", dir_, "--validators", "4", "--relays", relays, "--base-port", base,
                    *args).stdout
    assert "query rewards" in out, out
    manifest = json.loads((dir_ / "testnet.json").read_text())
    genesis = json.loads((dir_ / "genesis.json").read_text())
    procs = {}
    try:
        for n in manifest["nodes"]:
            ready = r"rpc on" if n["name"].startswith("validator") else r"relay listening on"
            procs[n["name"]] = Proc(shlex.split(n["command"]), ready, tmp_path / f"{n['name']}.log", n["name"],
                                    timeout=READY)
    except BaseException:
        for p in procs.values():
            p.kill()
        raise
    return dir_, manifest, genesis, base, procs


@pytest.mark.once  # protocol rules: the ASan run covers them (CI time)
def test_probers_measure_the_relays_and_each_epoch_pays_the_live_ones_by_stake_and_tier(conet, tmp_path):
    procs = {}
    try:
        dir_, manifest, genesis, base, procs = start_testnet(conet, tmp_path, 4, "--block-interval-ms", INTERVAL,
                                                             "--epoch-blocks", EPOCH, "--emission", EMISSION)
        assert genesis["params"]["incentives"]["emission_per_epoch"] == EMISSION
        url = manifest["rpc_urls"][0]
        wait_until(lambda: (try_rpc(url, "conet_listNodes") or {}).get("total") == 4, 180,
                   "the four relays to register")
        relay = {}  # name -> (noise key, operator)
        for r in rpc(url, "conet_listNodes")["nodes"]:
            port = int(r["record"]["endpoints"][0].rsplit(":", 1)[1])
            relay[f"relay{port - base - 200}"] = (r["record"]["noise_key"], r["record"]["operator"])
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
            _, err = s.communicate(timeout=180)
            assert s.returncode == 0, err

        # The first epoch that starts with every stake in place: all four earn.
        first = epoch_info(url)["epoch"] + 1
        paid = wait_paid(url, first, f"epoch {first} to be paid")
        scores = {n["node"]: n for n in rpc(url, "conet_getScores")["nodes"]}
        assert paid["summary"]["nodes_measured"] == 4 and paid["summary"]["nodes_paid"] == 4, (paid, scores)
        for key, _ in relay.values():
            assert scores[key]["last"]["epoch"] == first and scores[key]["last"]["reports"] == 3, scores[key]
            assert scores[key]["last"]["tier"] != "fail", scores[key]
        check_paid_by_stake_and_tier(paid, scores, relay)
        # Validators are paid by the votes the epoch's blocks carried: all four
        # voted, and no more than the validator pool was paid.
        validator_pool = EMISSION * 2000 // 10_000
        assert paid["summary"]["validator_pool"] == validator_pool, paid
        by_address = {r["address"]: r for r in paid["rewards"]}
        for v in genesis["validators"]:
            assert by_address.get(v, {}).get("validator_reward", 0) > 0, (v, paid)
        assert validator_pool - 4 <= sum(r["validator_reward"] for r in paid["rewards"]) <= validator_pool, paid
        wait_until(lambda: len(epoch_info(url)["votes"]) == 4, 60, "the current epoch to count all four validators' votes")
        assert metric_total(manifest["metrics_urls"][0], 'conet_prober_reports_total{result="sent"}') >= 1

        # relay3 dies. From the next epoch on it earns nothing; the others still do.
        procs["relay3"].p.kill()
        procs["relay3"].p.wait(30)
        down = epoch_info(url)["epoch"] + 1
        # Balances once the epoch it died in is paid (it may have passed its probes before dying).
        wait_until(lambda: (try_rpc(url, "conet_getEpoch") or {}).get("epoch", 0) >= down, 3 * EPOCH_S + 120,
                   f"epoch {down} to start")
        before = {name: rpc(url, "conet_getAccount", op)["balance"] for name, (_, op) in relay.items()}
        paid = wait_paid(url, down, f"epoch {down} to be paid")
        scores = {n["node"]: n for n in rpc(url, "conet_getScores")["nodes"]}
        dead_key, dead_op = relay["relay3"]
        assert scores[dead_key]["last"]["epoch"] == down and scores[dead_key]["last"]["tier"] == "fail", scores
        assert scores[dead_key]["failed_epochs"] >= 1
        assert dead_op not in {r["address"] for r in paid["rewards"]}, "the killed relay earned"
        assert rpc(url, "conet_getAccount", dead_op)["balance"] == before["relay3"]
        live = {name: v for name, v in relay.items() if name != "relay3"}
        check_paid_by_stake_and_tier(paid, scores, live)
        assert paid["summary"]["nodes_paid"] == 3, paid
        fund = epoch_info(url)["developer_fund"]
        by_address = {r["address"]: r for r in paid["rewards"]}
        assert by_address[fund["address"]]["fund_reward"] == EMISSION * 1000 // 10_000
        assert sum(r["total"] for r in paid["rewards"]) == paid["summary"]["minted"] <= paid["summary"]["emission"]

        # A validator not assigned to relay0, and relay0's own operator, cannot report on it.
        epoch = epoch_info(url)["epoch"]
        probers = {n["node"]: n for n in rpc(url, "conet_getScores")["nodes"]}[relay["relay0"][0]]["probers"]
        outsider = next(i for i, v in enumerate(genesis["validators"]) if v not in probers)
        for who in (f"validator{outsider}", "relay0"):
            d = dir_ / who
            refused = conet.run("tx", "probe-report", "--rpc", url, "--keystore", d / "wallet.json",
                                "--password-file", d / "password", "--node", relay["relay0"][0], "--reachable",
                                "--rtt-ms", "1", "--kbps", "99999", "--epoch", epoch, check=False)
            assert refused.returncode != 0 and "not assigned to probe" in refused.stderr, (who, refused)

        # The latest reward comes with a proof, and the CLI prints the epoch.
        latest = rpc(url, "conet_getRewards", relay["relay2"][1])
        assert latest["latest"]["epoch"] == down and latest["proof"], latest
        text = conet.run("query", "rewards", "--rpc", url, "--epoch", down).stdout
        assert relay["relay2"][1] in text and dead_op not in text, text
        text = conet.run("query", "scores", "--rpc", url).stdout
        assert "fail" in text, text
    finally:
        for p in procs.values():
            p.kill()


@pytest.mark.once  # protocol rules: the ASan run covers them (CI time)
def test_double_sign_evidence_from_anyone_slashes_the_validator_and_it_leaves_the_set(conet, tmp_path):
    epoch_blocks = 10
    procs = {}
    try:
        dir_, manifest, genesis, _, procs = start_testnet(conet, tmp_path, 0, "--block-interval-ms", "200",
                                                          "--epoch-blocks", epoch_blocks, "--validator-slots", "8",
                                                          "--min-validator-stake", UNIT)
        urls = manifest["rpc_urls"]
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
        before = epoch_info(urls[0])  # the fund's balance and the last paid epoch, from one state
        sent = report(a, b)
        assert sent.returncode == 0, sent.stderr
        # The set of the epoch the votes were signed in: by now the next epoch's set may have begun
        # without the offender (on a loaded machine epochs of 10 blocks of 200 ms go by fast).
        bonds = {x["address"]: x for x in rpc(urls[0], "conet_getValidatorSet", epoch)["bonds_now"]}
        assert bonds[offender]["tombstoned"] is True and bonds[offender]["stake"] == UNIT - UNIT // 10, bonds
        # The fund gains the slash, plus its share of any epoch paid meanwhile (epochs of 2 s).
        after = epoch_info(urls[0])
        fund = after["developer_fund"]["address"]
        last = lambda info: info["last"]["epoch"] if info["last"] else -1  # noqa: E731
        paid_meanwhile = sum(r["fund_reward"] for e in range(last(before) + 1, last(after) + 1)
                             for r in rpc(urls[0], "conet_getRewards", fund, e)["rewards"])
        assert after["developer_fund"]["balance"] == \
            before["developer_fund"]["balance"] + UNIT // 10 + paid_meanwhile, (before, after)
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
        for p in procs.values():
            p.kill()


@pytest.mark.once  # protocol rules: the ASan run covers them (CI time)
def test_a_grant_is_paid_from_the_fund_once_more_than_two_thirds_of_the_validators_approve(conet, tmp_path):
    procs = {}
    try:
        dir_, manifest, _, _, procs = start_testnet(conet, tmp_path, 0, "--block-interval-ms", "200",
                                                    "--epoch-blocks", 10, "--validator-slots", "8",
                                                    "--min-validator-stake", UNIT)
        urls = manifest["rpc_urls"]
        # The fund fills from each epoch's emission (10 %: 100 CONET a paid epoch).
        wait_until(lambda: (try_rpc(urls[0], "conet_getGrants") or {}).get("fund", {}).get("balance", 0) >= 50 * UNIT,
                   120, "the developer fund to hold 50 CONET")
        user = dir_ / "user"
        recipient = "0x" + "42" * 20
        epoch = epoch_info(urls[0])["epoch"]
        sent = conet.run("tx", "grant-propose", "--rpc", urls[0], "--keystore", user / "wallet.json",
                         "--password-file", user / "password", "--recipient", recipient, "--amount", 50 * UNIT,
                         "--reference", "https://example.org/conet/pull/42", "--expiry-epoch", epoch + 20,
                         "--json")
        grant_id = json.loads(sent.stdout)["id"]
        grant = rpc(urls[0], "conet_getGrants", grant_id)["grant"]
        assert grant["status"] == "open" and grant["voting_validators"] == 4, grant

        def vote(i, *extra):
            d = dir_ / f"validator{i}"
            return conet.run("tx", "grant-vote", "--rpc", urls[i], "--keystore", d / "wallet.json", "--password-file",
                             d / "password", "--id", grant_id, *extra, check=False)

        refused = conet.run("tx", "grant-vote", "--rpc", urls[0], "--keystore", user / "wallet.json",
                            "--password-file", user / "password", "--id", grant_id, check=False)
        assert refused.returncode != 0 and "only the current validators vote" in refused.stderr, refused
        # Two of four validators (1/2) are not enough; a third (3/4 > 2/3) pays it at once.
        for i in (0, 1):
            assert vote(i).returncode == 0
        grant = rpc(urls[0], "conet_getGrants", grant_id)["grant"]
        assert grant["status"] == "open" and grant["approving_validators"] == 2, grant
        fund_before = rpc(urls[0], "conet_getGrants")["fund"]["balance"]
        assert vote(2).returncode == 0
        answer = rpc(urls[0], "conet_getGrants", grant_id)
        assert answer["grant"]["status"] == "paid", answer
        assert rpc(urls[0], "conet_getAccount", recipient)["balance"] == 50 * UNIT
        # The fund paid it (and may have received an epoch's share meanwhile).
        assert answer["fund"]["balance"] < fund_before + 100 * UNIT - 50 * UNIT + 1
        closed = vote(3)
        assert closed.returncode != 0 and "already paid" in closed.stderr, closed
        text = conet.run("query", "grants", "--rpc", urls[1]).stdout
        assert "paid" in text and "pull/42" in text, text
    finally:
        for p in procs.values():
            p.kill()
