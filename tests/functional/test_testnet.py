"""Many validators from the two tools (issue 8): `conet devnet --validators N`
runs a whole network whose ledger is decided by N validators in consensus,
and `conet testnet` writes a network that starts by hand."""
import json
import pathlib
import re
import shlex
import signal
import socket
import subprocess

import pytest

from netlib import LyingRpc, Proc, free_port, free_testnet_base, wait_until, url_rpc as rpc, try_url_rpc as try_rpc

READY = 240  # seconds: ASan builds are slow, and the machine is shared
CURL_TIMEOUT = 120


def hashes_agree(urls, height):
    hashes = {rpc(u, "conet_getBlockByHeight", height)["header"]["hash"] for u in urls}
    return len(hashes) == 1


def test_devnet_with_four_validators_commits_transfers_that_every_validator_holds(conet, tmp_path):
    dir_ = tmp_path / "net"
    proc = Proc([conet.binary, "devnet", "--dir", dir_, "--validators", "4", "--block-interval-ms", "300"],
                r"Press Ctrl-C to stop", tmp_path / "devnet.log", "devnet", timeout=READY)
    try:
        state = json.loads((dir_ / "devnet.json").read_text())
        urls = state["rpc_urls"]
        assert len(urls) == 4 and len(set(urls)) == 4
        assert len(state["wallets"]["validators"]) == 4
        genesis = json.loads(pathlib.Path(state["genesis"]).read_text())
        assert len(genesis["validators"]) == 4

        # A transfer sent to the third validator is committed by the network.
        out = conet.run("tx", "transfer", "--rpc", urls[2], "--keystore", state["wallets"]["user"],
                        "--password-file", state["password_file"], "--to", genesis["validators"][0],
                        "--amount", "1000", timeout=180).stdout
        m = re.search(r'"committed" at height (\d+)', out)
        assert m, out
        height = int(m.group(1))
        wait_until(lambda: all((try_rpc(u, "conet_blockNumber") or 0) >= height for u in urls), 60,
                   "every validator to reach the transfer's block")
        assert hashes_agree(urls, height)
        txid = re.search(r"(0x[0-9a-f]{64})", out).group(1)
        for u in urls:
            assert rpc(u, "conet_getTransaction", txid)["status"] == "committed"

        # Validators pass transactions on: sent to validator 2 only, transfers
        # are proposed by other leaders too (without gossip only validator 2,
        # the one holding them, could ever include them).
        proposers_of_mine = set()
        for i in range(6):  # all six proposed by validator 2 by chance: (1/4)^6
            sent = conet.run("tx", "transfer", "--rpc", urls[2], "--keystore", state["wallets"]["user"],
                             "--password-file", state["password_file"], "--to", genesis["validators"][1],
                             "--amount", str(10 + i), timeout=180).stdout
            h = int(re.search(r'"committed" at height (\d+)', sent).group(1))
            proposers_of_mine.add(rpc(urls[0], "conet_getBlockByHeight", h)["header"]["proposer"].lower())
        assert proposers_of_mine - {genesis["validators"][2].lower()}, proposers_of_mine

        # The head is finalized by a quorum (3 of 4) of distinct validators.
        head = rpc(urls[1], "conet_getHeader")
        signers = [v["validator"] for v in head["certificate"]]
        assert len(set(signers)) >= 3 and all(0 <= s < 4 for s in signers), head["certificate"]
        proposers = {rpc(urls[0], "conet_getBlockByHeight", h)["header"]["proposer"] for h in range(1, height + 1)}
        assert len(proposers) >= 2, "one validator proposed every block: leaders do not rotate"

        # The data plane works over relays that registered through different validators.
        page = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(CURL_TIMEOUT), "--socks5-hostname",
                               state["proxy"], state["demo_url"]], capture_output=True, timeout=CURL_TIMEOUT + 30)
        assert page.returncode == 0 and b"CONET demo site" in page.stdout, page.stderr
    finally:
        proc.p.send_signal(signal.SIGINT)
        code = proc.p.wait(90)
    assert code == 0, proc.read_log()


def metric_samples(url):
    """name{labels} -> value of every sample at a /metrics URL."""
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def pick_base(validators, relays):
    base = free_testnet_base(validators, relays)
    if base is None:
        pytest.skip("no free block of ports for a testnet")
    return base


def test_testnet_writes_a_network_that_starts_by_hand(conet, tmp_path):
    dir_ = tmp_path / "tn"
    base = pick_base(4, 2)
    # Epochs of 4 blocks: the followers and the relays' light clients check
    # certificates of several epochs (each epoch is in its votes' digest).
    out = conet.run("testnet", "--dir", dir_, "--validators", "4", "--relays", "2", "--base-port", base,
                    "--block-interval-ms", "300", "--epoch-blocks", "4").stdout
    assert "4 validator(s) and 2 relays" in out
    assert json.loads((dir_ / "genesis.json").read_text())["params"]["epoch_blocks"] == 4
    manifest = json.loads((dir_ / "testnet.json").read_text())
    assert [n["name"] for n in manifest["nodes"]] == ["validator0", "validator1", "validator2", "validator3",
                                                      "relay0", "relay1"]
    for n in manifest["nodes"]:
        d = dir_ / n["name"]
        assert (d / "node.toml").exists() and (d / "wallet.json").exists() and (d / "password").exists()
        assert (d / "password").stat().st_mode & 0o077 == 0
    # Writing over an existing network is refused.
    again = conet.run("testnet", "--dir", dir_, check=False)
    assert again.returncode == 2 and "not empty" in again.stderr

    procs = []
    try:
        for n in manifest["nodes"]:
            ready = r"rpc on" if n["name"].startswith("validator") else r"relay listening on"
            procs.append(Proc(shlex.split(n["command"]), ready, tmp_path / (n["name"] + ".log"), n["name"],
                              timeout=READY))
        urls = manifest["rpc_urls"]
        wait_until(lambda: all((try_rpc(u, "conet_blockNumber") or 0) >= 5 for u in urls), 120,
                   "four validators to finalize 5 blocks")
        assert hashes_agree(urls, 5)
        # Each validator measures proposal-to-finalization latency for the blocks it committed.
        for m in manifest["metrics_urls"]:
            samples = metric_samples(m)
            count = samples["conet_consensus_finality_latency_ms_count"]
            assert count >= 4, (m, count)  # blocks 1..5: the first may be built before this node saw it
            assert samples['conet_consensus_finality_latency_ms_bucket{le="+Inf"}'] == count
            assert samples["conet_consensus_finality_latency_ms_sum"] > 0
            assert samples["conet_consensus_height"] >= 5
            # Height 5 is in epoch 1: every validator switched engines at least once.
            assert samples["conet_consensus_epoch"] >= 1, (m, samples["conet_consensus_epoch"])
        # Both relays registered through the validators (each relay asks its own).
        wait_until(lambda: (try_rpc(urls[3], "conet_listNodes") or {}).get("total") == 2, 120,
                   "both relays on the ledger")

        # Followers: one asks only a lying endpoint (every block altered) and
        # must stay at genesis; one asks the liar first, then a real validator,
        # and must hold the validators' chain, block for block.
        def alter(method, params, result):
            if method == "conet_getRawBlocks":
                result["blocks"] = [b[:-140] + format(int(b[-140:-138], 16) ^ 0x01, "02x") + b[-138:]
                                    for b in result["blocks"]]
            return result

        liar = LyingRpc(urls[0], alter)
        try:
            followers = {}
            for name, follow in (("fooled", liar.url), ("follower", liar.url + "," + urls[1])):
                rpc_port = free_port()
                conet.run("node", "init", "--dir", tmp_path / name, "--wallet-keystore",
                          manifest["user_wallet"], "--password-file", manifest["user_password_file"],
                          "--listen", "127.0.0.1:0", "--genesis", manifest["genesis"], "--follow", follow,
                          "--rpc", f"127.0.0.1:{rpc_port}", "--no-exit")
                procs.append(Proc([conet.binary, "node", "run", "--dir", tmp_path / name], r"rpc on",
                                  tmp_path / (name + ".log"), name, timeout=READY))
                followers[name] = f"http://127.0.0.1:{rpc_port}"
            # At least into epoch 3 (heights 13..16): the followers cross several epochs.
            target = max(rpc(urls[2], "conet_blockNumber") + 3, 3 * 4 + 1)
            wait_until(lambda: (try_rpc(followers["follower"], "conet_blockNumber") or 0) >= target, 120,
                       "the follower to catch up")
            for h in (1, target // 2, target):
                assert rpc(followers["follower"], "conet_getBlockByHeight", h)["header"]["hash"] == \
                    rpc(urls[3], "conet_getBlockByHeight", h)["header"]["hash"]
            assert rpc(followers["fooled"], "conet_blockNumber") == 0
            wait_until(lambda: "refused" in procs[-2].read_log(), 60, "the fooled follower to log the refusal")
            # A follower holds no mempool: it says where transactions go.
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "conet_sendRawTransaction",
                               "params": ["0x00"]}).encode()
            import urllib.request
            with urllib.request.urlopen(urllib.request.Request(followers["follower"], data=body), timeout=30) as r:
                answer = json.loads(r.read())
            assert "follows the chain" in answer["error"]["message"], answer
        finally:
            liar.close()
    finally:
        for p in procs:
            p.terminate()
    for p in procs:
        assert p.p.returncode == 0, (p.name, p.read_log())


def test_validator_with_wrong_peer_list_refuses_to_start_and_says_why(conet, tmp_path):
    dir_ = tmp_path / "tn"
    conet.run("testnet", "--dir", dir_, "--validators", "4", "--relays", "0", "--base-port", pick_base(4, 0))
    toml = dir_ / "validator1" / "node.toml"
    text = toml.read_text()
    peers = re.search(r"validator_peers = \[(.*)\]", text).group(1).split(", ")
    toml.write_text(text.replace(", ".join(peers), ", ".join(peers[:3])))
    p = conet.run("node", "run", "--dir", dir_ / "validator1", "--password-file", dir_ / "validator1" / "password",
                  check=False, timeout=60)
    assert p.returncode == 1
    assert "validator_peers lists 3 addresses but the genesis has 4 validators" in p.stderr, p.stderr
