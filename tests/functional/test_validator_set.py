"""Validator sets that change through stake (issue 8): a validator outside the
genesis bonds into a 4-validator network and takes part in consensus from the
next epoch on; a genesis validator unbonds and the network finalizes without
it; a light client proves each epoch's set from genesis and refuses a forged
one."""
import json
import re
import shlex

import pytest

from netlib import LyingRpc, Proc, free_port, free_testnet_base, wait_until, url_rpc as rpc, try_url_rpc as try_rpc

READY = 240  # seconds: ASan builds are slow, and the machine is shared
EPOCH = 5    # blocks per epoch
STAKE = 1_000_000  # each genesis validator's bond, the minimum to hold a seat


def metric(url, name):
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


HEADER_BYTES = 5 * 8 + 32 + 20 + 32 + 32 + 32  # docs/ledger.md: the canonical header


def strip_certificate(block_hex):
    """A canonical block (hex, 0x-prefixed) with its certificate replaced by an empty one."""
    raw = bytes.fromhex(block_hex[2:])
    at = HEADER_BYTES
    votes = int.from_bytes(raw[at:at + 4], "big")  # the parent certificate: u32 count [| u8 kind | votes]
    at += 4 + (1 + votes * (4 + 65) if votes else 0)
    count = int.from_bytes(raw[at:at + 4], "big")
    at += 4
    for _ in range(count):  # u64 chain | u64 nonce | u64 fee | u8 kind | u32 len | payload | 65-byte signature
        at += 25
        at += 4 + int.from_bytes(raw[at:at + 4], "big") + 65
    return "0x" + (raw[:at] + b"\0\0\0\0").hex()


def heights(urls):
    return [try_rpc(u, "conet_blockNumber") or 0 for u in urls]


def advances(urls, by, timeout, what):
    """Waits until every node in `urls` is `by` blocks past the highest height now."""
    target = max(heights(urls)) + by
    wait_until(lambda: min(heights(urls)) >= target, timeout, what)
    return target


def test_a_validator_bonds_into_the_set_and_another_unbonds_out_of_it(conet, tmp_path):
    base = free_testnet_base(5, 0)
    if base is None:
        pytest.skip("no free block of ports for a testnet")
    dir_ = tmp_path / "tn"
    out = conet.run("testnet", "--dir", dir_, "--validators", "4", "--standby", "1", "--relays", "0",
                    "--base-port", base, "--block-interval-ms", "200", "--epoch-blocks", EPOCH,
                    "--validator-slots", "8", "--min-validator-stake", STAKE).stdout
    assert "validator-bond" in out, out
    manifest = json.loads((dir_ / "testnet.json").read_text())
    genesis = json.loads((dir_ / "genesis.json").read_text())
    assert genesis["validator_stake"] == STAKE and genesis["params"]["validator_slots"] == 8
    standby = manifest["standby"][0]
    urls = manifest["rpc_urls"]
    metrics = manifest["metrics_urls"]
    by_name = {n["name"]: n for n in manifest["nodes"]}
    procs = {}

    def start(name):
        log = tmp_path / f"{name}-{len([k for k in procs if k.startswith(name)])}.log"
        procs[name] = Proc(shlex.split(by_name[name]["command"]), r"rpc on", log, name, timeout=READY)

    try:
        for name in ("validator0", "validator1", "validator2", "validator3", "standby0"):
            start(name)
        wait_until(lambda: min(heights(urls)) >= 3, 120, "the genesis validators to finalize blocks")
        assert rpc(urls[0], "conet_getValidatorSet", 0)["members"] == genesis["validators"]
        assert metric(standby["metrics_url"], "conet_consensus_in_set") == 0
        wait_until(lambda: "not in the set" in procs["standby0"].read_log(), 60, "the standby to say it follows")

        # The standby bonds; from the next epoch's start it is in the set.
        sent = conet.run("tx", "validator-bond", "--rpc", urls[1], "--keystore", standby["wallet"],
                         "--password-file", standby["password_file"], "--amount", 2 * STAKE,
                         "--endpoint", standby["endpoint"], timeout=180).stdout
        bonded_at = int(re.search(r'"committed" at height (\d+)', sent).group(1))
        joined = (bonded_at + EPOCH - 1) // EPOCH  # the set computed at the end of the bond's epoch
        wait_until(lambda: (try_rpc(urls[0], "conet_getValidatorSet") or {}).get("epoch", 0) >= joined, 120,
                   "the epoch after the bond")
        assert standby["address"] not in rpc(urls[0], "conet_getValidatorSet", joined - 1)["members"]
        five = rpc(urls[0], "conet_getValidatorSet", joined)
        assert standby["address"] in five["members"] and len(five["members"]) == 5, five
        assert {b["address"]: b["stake"] for b in five["bonds_now"]}[standby["address"]] == 2 * STAKE
        wait_until(lambda: metric(standby["metrics_url"], "conet_consensus_in_set") == 1, 120,
                   "the standby to vote")
        assert metric(standby["metrics_url"], "conet_consensus_validators") == 5

        # Its vote counts: with validator3 killed, 4 of 5 only finalize with the standby's vote.
        procs["validator3"].p.kill()
        procs["validator3"].p.wait(30)
        live = urls[:3] + [standby["rpc_url"]]
        advances(live, 2 * EPOCH, 120, "four of five validators, the standby among them, to finalize")
        head = rpc(urls[0], "conet_getHeader")
        epoch_of_head = (head["header"]["height"] - 1) // EPOCH
        members = rpc(urls[0], "conet_getValidatorSet", epoch_of_head)["members"]
        signers = {members[v["validator"]] for v in head["certificate"]}
        assert standby["address"] in signers and genesis["validators"][3] not in signers, (signers, head)
        start("validator3")  # it catches up and votes again

        # validator0 unbonds its whole stake: from the next epoch on the others finalize without it.
        sent = conet.run("tx", "validator-unbond", "--rpc", urls[2], "--keystore",
                         str(dir_ / "validator0" / "wallet.json"), "--password-file",
                         str(dir_ / "validator0" / "password"), "--amount", STAKE, timeout=180).stdout
        unbonded_at = int(re.search(r'"committed" at height (\d+)', sent).group(1))
        left = (unbonded_at + EPOCH - 1) // EPOCH
        wait_until(lambda: (try_rpc(urls[1], "conet_getValidatorSet") or {}).get("epoch", 0) >= left, 120,
                   "the epoch after the unbond")
        four = rpc(urls[1], "conet_getValidatorSet", left)
        assert genesis["validators"][0] not in four["members"] and len(four["members"]) == 4, four
        wait_until(lambda: metric(metrics[0], "conet_consensus_in_set") == 0, 60, "validator0 to follow")
        procs["validator0"].terminate()
        rest = urls[1:] + [standby["rpc_url"]]
        top = advances(rest, 2 * EPOCH, 120, "the new set of four to finalize without validator0")
        hashes = {rpc(u, "conet_getBlockByHeight", top)["header"]["hash"] for u in rest}
        assert len(hashes) == 1, hashes

        # A light client proves the sets from genesis, epoch by epoch, and
        # checks a recent header's certificate by the set of its epoch.
        account = json.loads(conet.run("query", "account", standby["address"], "--rpc", urls[1], "--genesis",
                                       manifest["genesis"], "--json").stdout)
        assert account["proof_verified"] is True and account["height"] > left * EPOCH, account

        # A forged set (the standby swapped for a key of the liar's) is refused.
        forged_member = "0x" + "11" * 20

        def forge(method, params, result):
            if method == "conet_getValidatorSet":
                result["members"] = [forged_member if m == standby["address"] else m for m in result["members"]]
            return result

        liar = LyingRpc(urls[1], forge)
        try:
            refused = conet.run("query", "account", standby["address"], "--rpc", liar.url, "--genesis",
                                manifest["genesis"], check=False)
        finally:
            liar.close()
        assert refused.returncode != 0, refused.stdout
        assert "validator set of epoch" in refused.stderr and "refused" in refused.stderr, refused.stderr

        # An epoch's last block without its own certificate, "finalized" by the
        # next block's: the light client refuses it at once (the next block is
        # in another epoch, whose set this block would have to prove).
        def finalized_by_next_epoch(method, params, result):
            if method == "conet_getHeader" and params and params[0] % EPOCH == 0 and params[0] > 0:
                try:
                    nxt = rpc(urls[1], "conet_getHeader", params[0] + 1)
                except (KeyError, OSError):  # the head itself: no next block yet (the walk lies about block 5)
                    return result
                result["certificate"] = []
                result.pop("certificate_reproposal", None)
                result["finalized_by"] = [{"encoded": nxt["header"]["encoded"], "certificate": nxt["certificate"]}]
            return result

        liar = LyingRpc(urls[1], finalized_by_next_epoch)
        try:
            refused = conet.run("query", "account", standby["address"], "--rpc", liar.url, "--genesis",
                                manifest["genesis"], check=False, timeout=120)
        finally:
            liar.close()
        assert refused.returncode == 1, (refused.returncode, refused.stderr)
        assert "finality chain leaves the epoch" in refused.stderr, refused.stderr

        # A follower refuses an epoch's last block that comes without its own
        # certificate (it would take the next epoch's set from a state nobody
        # certified) and holds nothing past the block before it.
        def strip_epoch_ends(method, params, result):
            if method == "conet_getRawBlocks":
                first = params[0]
                result["blocks"] = [strip_certificate(b) if (first + i) % EPOCH == 0 else b
                                    for i, b in enumerate(result["blocks"])]
            return result

        liar = LyingRpc(urls[2], strip_epoch_ends)
        try:
            rpc_port = free_port()
            conet.run("node", "init", "--dir", tmp_path / "follower", "--wallet-keystore", manifest["user_wallet"],
                      "--password-file", manifest["user_password_file"], "--listen", "127.0.0.1:0", "--genesis",
                      manifest["genesis"], "--follow", liar.url, "--rpc", f"127.0.0.1:{rpc_port}", "--no-exit")
            procs["follower"] = Proc([conet.binary, "node", "run", "--dir", tmp_path / "follower"], r"rpc on",
                                     tmp_path / "follower.log", "follower", timeout=READY)
            wait_until(lambda: "ends an epoch without a certificate" in procs["follower"].read_log(), 120,
                       "the follower to refuse an epoch's last block without its certificate")
            assert rpc(f"http://127.0.0.1:{rpc_port}", "conet_blockNumber") < EPOCH
        finally:
            liar.close()
    finally:
        for p in procs.values():
            p.terminate()
