#!/usr/bin/env python3
"""Consensus benchmark (issue 8): n validators (default 4) on loopback, signed
transfers from many senders sent to every validator; committed transfers per
second and submit-to-commit latency next to the secp256k1 recover rate of one
core, all measured in one run by build/release/bench/conet_bench_consensus.

    python3 bench/consensus.py [--txs 40000] [--senders 2000] [--block-interval-ms 50] [--epoch-blocks 0]

It writes the network with `conet testnet` into a temporary directory on free
loopback ports, adds the benchmark's senders to the genesis before any node
starts, starts the validators, waits until they finalize blocks, runs the
load, prints the figures with the goals and the CPU each process used, and
stops every process it started (also on Ctrl-C or a failure)."""
import argparse
import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import REPO, Conet, raise_fd_limit
from netlib import Proc, free_testnet_base

GOALS = "goals: >= 2,000 tx/s; p50 <= 50 ms; p99 <= 200 ms"


def finality_histogram(url):
    """The validator's proposal-to-finalization histogram: ([(le_ms, cumulative count)], count)."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith('conet_consensus_finality_latency_ms_bucket{le="'):
            le = line.split('"')[1]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(float(line.rsplit(" ", 1)[1]))))
    return buckets


def histogram_quantile(before, after, q):
    """The bucket bound under which a fraction q of the blocks committed between two scrapes (summed over
    validators) became final: a bound, to the histogram's resolution, not an interpolation."""
    total = {}
    for b, a in zip(before, after):
        for (le, c0), (_, c1) in zip(b, a):
            total[le] = total.get(le, 0) + (c1 - c0)
    n = total.get(float("inf"), 0)
    if n == 0:
        return None, 0
    for le in sorted(total):
        if total[le] >= q * n:
            return le, n
    return float("inf"), n


def rpc(url, method, params=None, timeout=5):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        answer = json.load(r)
    if "error" in answer:
        raise RuntimeError(f"{url} {method}: {answer['error']}")
    return answer["result"]


def cpu_seconds(pid):
    """User + system CPU time of a running process."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # it exited
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=40000, help="transfers in the throughput phase")
    ap.add_argument("--latency-txs", type=int, default=5000, help="transfers in the fixed-rate latency phase (0: skip)")
    ap.add_argument("--latency-rate", type=int, default=0,
                    help="tx/s of the latency phase (0: half the measured throughput, at most 1,000)")
    ap.add_argument("--senders", type=int, default=2000, help="funded sender accounts")
    ap.add_argument("--block-interval-ms", type=int, default=50, help="least milliseconds between blocks")
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--epoch-blocks", type=int, default=0,
                    help="blocks per consensus epoch (0: one epoch); the engine and journal change at each boundary")
    ap.add_argument("--threads", type=int, default=4, help="client sender threads (each has a connection per validator)")
    ap.add_argument("--batch", type=int, default=100, help="transfers per JSON-RPC batch in the throughput phase")
    ap.add_argument("--window", type=int, default=8000, help="most transfers sent and not yet committed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bench", default=str(REPO / "build" / "release" / "bench" / "conet_bench_consensus"))
    ap.add_argument("--keep", action="store_true", help="keep the network directory and node logs")
    args = ap.parse_args()

    conet = Conet()  # build/release/conet, or $CONET_BIN
    bench = pathlib.Path(args.bench)
    if not bench.exists():
        sys.exit(f"build first: cmake --build --preset release --target conet_bench_consensus ({bench})")
    raise_fd_limit(65536)
    # SIGTERM cleans up like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="conet-bench-consensus-"))
    nodes = []
    bench_proc = None
    code = 1
    try:
        net = tmp / "net"
        base = free_testnet_base(args.validators, 0)
        if base is None:
            raise RuntimeError("no free block of loopback ports for the network")
        conet.run("testnet", "--dir", net, "--validators", args.validators, "--relays", 0, "--base-port", base,
                  "--block-interval-ms", args.block_interval_ms, "--epoch-blocks", args.epoch_blocks)
        manifest = json.loads((net / "testnet.json").read_text())
        genesis = manifest["genesis"]
        subprocess.run([str(bench), "fund", "--genesis", genesis, "--seed", str(args.seed), "--senders",
                        str(args.senders)], check=True, stdout=subprocess.DEVNULL)
        connections = args.threads + 1  # sender threads + the newHeads WebSocket, per validator
        print(f"network: {args.validators} validators on 127.0.0.1 (consensus ports {base}+i, RPC {base + 100}+i), "
              f"block interval {args.block_interval_ms} ms, {args.senders} funded senders; node.toml limits unchanged "
              f"({connections} RPC connections per validator from 127.0.0.1, under rpc_max_connections_per_ip = 32)")
        for n in manifest["nodes"]:
            nodes.append(Proc(n["command"].split(), r"rpc on (\S+)", tmp / f"{n['name']}.log", n["name"]))
        urls = manifest["rpc_urls"]
        deadline = time.monotonic() + 60
        while min(rpc(u, "conet_blockNumber") for u in urls) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the validators did not finalize 2 blocks within 60 s")
            for p in nodes:
                if not p.alive():
                    raise RuntimeError(f"{p.name} exited: {p.read_log()}")
            time.sleep(0.1)

        cmd = [str(bench), "run", "--genesis", genesis, "--seed", str(args.seed), "--senders", str(args.senders),
               "--txs", str(args.txs), "--latency-txs", str(args.latency_txs), "--latency-rate",
               str(args.latency_rate), "--threads", str(args.threads), "--batch", str(args.batch), "--window",
               str(args.window)]
        for u in urls:
            cmd += ["--rpc", u]
        metrics = manifest["metrics_urls"]
        hist0 = [finality_histogram(m) for m in metrics]
        node_cpu0 = [cpu_seconds(p.p.pid) for p in nodes]
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        bench_proc = subprocess.Popen(cmd)
        code = bench_proc.wait()
        bench_proc = None
        wall = time.monotonic() - t0
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        node_cpu = [cpu_seconds(p.p.pid) - c for p, c in zip(nodes, node_cpu0)]
        client_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        try:
            hist1 = [finality_histogram(m) for m in metrics]
            p50, n = histogram_quantile(hist0, hist1, 0.50)
            p99, _ = histogram_quantile(hist0, hist1, 0.99)
            if n:
                print(f"\nproposal-to-finalization latency at the validators (built or first received -> committed "
                      f"final; {n} block commits over both phases, histogram buckets): p50 <= {p50:g} ms, "
                      f"p99 <= {p99:g} ms")
        except OSError as e:
            print(f"\nno finality histogram from the validators' /metrics ({e})")
        heights = []
        for u in urls:
            try:
                heights.append(rpc(u, "conet_blockNumber"))
            except (OSError, RuntimeError) as e:
                heights.append(f"no answer ({e})")
        print(f"\nCPU over the whole run ({wall:.1f} s wall, {os.cpu_count()} cores = {wall * os.cpu_count():.1f} "
              f"core-seconds): validators " + ", ".join(f"{c:.1f} s" for c in node_cpu) +
              f"; client (signing, recover bench, HTTP) {client_cpu:.1f} s")
        dead = [p.name for p in nodes if not p.alive()]
        print(f"heights after the run: {heights}" + (f"; EXITED: {dead}" if dead else ""))
        print(GOALS)
        if code:
            print(f"conet_bench_consensus exited with {code} (2: not every accepted transfer was committed)")
        if dead:
            code = code or 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    finally:
        if bench_proc is not None:
            bench_proc.kill()
            bench_proc.wait()
        for p in nodes:
            p.terminate(timeout=10)
        if args.keep or code not in (0, 130):
            print(f"network and node logs kept in {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return code


if __name__ == "__main__":
    sys.exit(main())
