#!/usr/bin/env python3
"""Throughput: 1 GiB through the CONET proxy and two relays on loopback,
against shadowsocks-libev (ss-local + ss-server, chacha20-ietf-poly1305, one
hop) and a direct download in the same run. Prints MB/s and the ratio
conet/shadowsocks (goal >= 0.9), the CPU seconds per GB each process spent
(from /proc: the proxy, the entry and the exit against ss-local and
ss-server; goal: each relay <= 0.6 x ss-server), and `openssl speed` as the
crypto bound.

Usage: bench/throughput.py [--bytes N] [--runs R]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import pathlib

from benchlib import SourceServer, conet_network, free_port, median, progress, start_listening


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds a process has used (/proc/PID/stat)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuMeter:
    """CPU seconds of named processes, summed over the measured intervals."""

    def __init__(self, pids):
        self.pids = pids
        self.used = {name: 0.0 for name in pids}

    def measure(self, fn):
        before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        out = fn()
        for name, pid in self.pids.items():
            self.used[name] += cpu_seconds(pid) - before[name]
        return out


def relay_roles(net):
    """{'entry': relay, 'exit': relay} of the proxy's one ready circuit (from /status)."""
    import json
    import urllib.request
    status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{net.proxy.port}/status", timeout=10))
    path = next(c["path"] for c in status["circuits"] if c["state"] == "ready")
    by_port = {str(r.port): r for r in net.relays}
    def relay_of(node):  # "key@host:port/region"
        return by_port[node.split("@")[1].split("/")[0].rsplit(":", 1)[1]]
    return {"entry": relay_of(path[0]), "exit": relay_of(path[-1])}


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
        roles = relay_roles(net)
        ss_cpu = CpuMeter({"ss-local": local.pid, "ss-server": server.pid})
        conet_cpu = CpuMeter({"proxy": net.proxy.p.pid, "entry": roles["entry"].proc.p.pid,
                              "exit": roles["exit"].proc.p.pid})
        results = {"direct": [], "shadowsocks (1 hop)": [], "conet (2 hops)": []}
        for run in range(args.runs):
            progress(f"run {run + 1}/{args.runs}: direct, shadowsocks, conet ({args.bytes >> 20} MiB each)")
            results["direct"].append(curl_rate([], url, args.bytes))
            results["shadowsocks (1 hop)"].append(ss_cpu.measure(
                lambda: curl_rate(["--socks5-hostname", f"127.0.0.1:{ss_local}"], url, args.bytes)))
            results["conet (2 hops)"].append(conet_cpu.measure(
                lambda: curl_rate(["--socks5-hostname", f"127.0.0.1:{net.proxy.port}"], url, args.bytes)))
    finally:
        net.stop()
        for p in (server, local):
            p.kill()
            p.wait()

    print(f"throughput, {args.bytes / (1 << 20):.0f} MiB per download, median of {args.runs} runs (MB/s):")
    for name, rates in results.items():
        print(f"  {name:22s} {median(rates):8.1f}   runs: {', '.join(f'{r:.0f}' for r in rates)}")
    ratio = median(results["conet (2 hops)"]) / median(results["shadowsocks (1 hop)"])
    print(f"  ratio conet/shadowsocks: {ratio:.2f}  (goal >= 0.9)")
    gb = args.bytes * args.runs / 1e9
    print(f"CPU seconds per GB carried ({gb:.2f} GB per path, user + system, from /proc):")
    for meter in (ss_cpu, conet_cpu):
        for name, used in meter.used.items():
            print(f"  {name:10s} {used / gb:6.2f}")
    ss_server = ss_cpu.used["ss-server"] / gb
    for role in ("entry", "exit"):
        r = conet_cpu.used[role] / gb / ss_server
        print(f"  {role} / ss-server: {r:.2f}  (goal <= 0.6: {'met' if r <= 0.6 else 'NOT met'})")
    whole = sum(conet_cpu.used.values()) / sum(ss_cpu.used.values())
    print(f"  whole path conet / shadowsocks: {whole:.2f}")
    speed = subprocess.run(["openssl", "speed", "-evp", "chacha20-poly1305", "-seconds", "1"], capture_output=True,
                           text=True).stdout.strip().splitlines()
    print("crypto bound (openssl speed -evp chacha20-poly1305, one core, kB/s):")
    for line in speed[-2:]:
        print("  " + line)


if __name__ == "__main__":
    main()
