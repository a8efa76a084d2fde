#!/usr/bin/env python3
"""Throughput: 1 GiB through the CONET proxy and two relays on loopback,
against shadowsocks-libev (ss-local + ss-server, chacha20-ietf-poly1305, one
hop) and a direct download in the same run. Prints MB/s and the ratio
conet/shadowsocks (goal >= 1.0), and `openssl speed` as the crypto bound.

Usage: bench/throughput.py [--bytes N] [--runs R]
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import pathlib

from benchlib import SourceServer, conet_network, free_port, median, start_listening


def curl_rate(proxy_args, url, n):
    t0 = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", *proxy_args, url],
                         capture_output=True, text=True, timeout=600)
    dt = time.perf_counter() - t0
    if out.returncode != 0 or int(float(out.stdout)) != n:
        raise RuntimeError(f"download failed: {out.stderr} {out.stdout}")
    return n / dt / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=1 << 30)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for tool in ("ss-local", "ss-server", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: scripts/install-deps.sh --bench")

    src = SourceServer()
    url = f"http://127.0.0.1:{src.port}/{args.bytes}"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="conet-bench-"))

    ss_port, ss_local = free_port(), free_port()
    cipher = "chacha20-ietf-poly1305"
    server = start_listening(["ss-server", "-s", "127.0.0.1", "-p", ss_port, "-k", "bench-password", "-m", cipher],
                             ss_port, tmp / "ss-server.log")
    local = start_listening(["ss-local", "-s", "127.0.0.1", "-p", ss_port, "-l", ss_local, "-b", "127.0.0.1",
                             "-k", "bench-password", "-m", cipher], ss_local, tmp / "ss-local.log")
    net = conet_network(tmp)
    try:
        # Wait until both proxies answer, then warm up.
        curl_rate(["--socks5-hostname", f"127.0.0.1:{net.proxy.port}"], f"http://127.0.0.1:{src.port}/1000", 1000)
        for _ in range(50):
            try:
                curl_rate(["--socks5-hostname", f"127.0.0.1:{ss_local}"], f"http://127.0.0.1:{src.port}/1000", 1000)
                break
            except RuntimeError:
                time.sleep(0.1)
        results = {"direct": [], "shadowsocks (1 hop)": [], "conet (2 hops)": []}
        for _ in range(args.runs):
            results["direct"].append(curl_rate([], url, args.bytes))
            results["shadowsocks (1 hop)"].append(
                curl_rate(["--socks5-hostname", f"127.0.0.1:{ss_local}"], url, args.bytes))
            results["conet (2 hops)"].append(
                curl_rate(["--socks5-hostname", f"127.0.0.1:{net.proxy.port}"], url, args.bytes))
    finally:
        net.stop()
        for p in (server, local):
            p.kill()
            p.wait()

    print(f"throughput, {args.bytes / (1 << 20):.0f} MiB per download, median of {args.runs} runs (MB/s):")
    for name, rates in results.items():
        print(f"  {name:22s} {median(rates):8.1f}   runs: {', '.join(f'{r:.0f}' for r in rates)}")
    ratio = median(results["conet (2 hops)"]) / median(results["shadowsocks (1 hop)"])
    print(f"  ratio conet/shadowsocks: {ratio:.2f}  (goal >= 1.0)")
    speed = subprocess.run(["openssl", "speed", "-evp", "chacha20-poly1305", "-seconds", "1"], capture_output=True,
                           text=True).stdout.strip().splitlines()
    print("crypto bound (openssl speed -evp chacha20-poly1305, one core, kB/s):")
    for line in speed[-2:]:
        print("  " + line)


if __name__ == "__main__":
    main()
