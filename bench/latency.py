#!/usr/bin/env python3
"""Latency: 1,000 sequential small HTTP requests through the CONET proxy
(prebuilt circuits, 2 relays) against the same requests sent directly, in the
same run. Prints p50/p90/p99 of each and the added latency (goal: p50 added
<= 1 ms on loopback).

Each request is a new connection (a new stream): connect, GET, read to close.
Usage: bench/latency.py [--requests N]
"""
import argparse
import pathlib
import socket
import tempfile
import time

from benchlib import SourceServer, conet_network, percentile, progress


def request_direct(port):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        read_all(s)
    return time.perf_counter() - t0


def request_socks(proxy_port, port):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", proxy_port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Greeting and CONNECT pipelined, as a latency-aware SOCKS client does.
        s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
        got = b""
        while len(got) < 12:
            chunk = s.recv(12 - len(got))
            if not chunk:
                raise RuntimeError("proxy closed")
            got += chunk
        if got[3] != 0:
            raise RuntimeError(f"SOCKS reply {got[3]}")
        s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        read_all(s)
    return time.perf_counter() - t0


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    src = SourceServer()
    net = conet_network(pathlib.Path(tempfile.mkdtemp(prefix="conet-bench-")), pool=3)
    try:
        for _ in range(20):  # warm up: circuits built, code paths hot
            request_socks(net.proxy.port, src.port)
            request_direct(src.port)
        direct, proxied = [], []
        for i in range(args.requests):
            if i % 250 == 0:
                progress(f"request {i}/{args.requests}")
            direct.append(request_direct(src.port) * 1000)
            proxied.append(request_socks(net.proxy.port, src.port) * 1000)
    finally:
        net.stop()
    print(f"latency, {args.requests} sequential requests, each a new connection (ms):")
    for name, v in (("direct", direct), ("conet (2 hops)", proxied)):
        print(f"  {name:16s} p50 {percentile(v, 50):7.3f}  p90 {percentile(v, 90):7.3f}  p99 {percentile(v, 99):7.3f}")
    added = percentile(proxied, 50) - percentile(direct, 50)
    print(f"  added p50: {added:.3f} ms  (goal <= 0.5 ms, issue 10)")


if __name__ == "__main__":
    main()
