#!/usr/bin/env python3
"""Scale: 10,000 concurrent idle streams through one relay pair (2 relays).
Reports the rate of new streams per second (goal >= 1,000/s) and the relays'
memory per open stream from their RSS before and after (goal <= 4 KiB at the exit, issue 10).

Streams are spread over 10 circuits with SOCKS5 credentials (a circuit carries
at most 1,024 streams). Usage: bench/scale.py [--streams N]
"""
import argparse
import asyncio
import pathlib
import tempfile
import time

import sys

from benchlib import Proc, conet_network, raise_fd_limit, rss_kib


async def open_stream(proxy_port, target_port, user):
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    u = user.encode()
    writer.write(b"\x05\x01\x02")
    await reader.readexactly(2)
    writer.write(bytes([1, len(u)]) + u + b"\x01x")
    await reader.readexactly(2)
    writer.write(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + target_port.to_bytes(2, "big"))
    reply = await reader.readexactly(10)
    if reply[1] != 0:
        raise RuntimeError(f"SOCKS reply {reply[1]}")
    writer.write(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")  # the stream is established end to end
    return writer


async def run(n, proxy_port, target_port, circuits):
    sem = asyncio.Semaphore(256)
    writers = []

    async def one(i):
        async with sem:
            writers.append(await open_stream(proxy_port, target_port, f"user{i % circuits}"))

    # Build the circuits first so the rate measures streams, not circuit builds.
    for c in range(circuits):
        writers.append(await open_stream(proxy_port, target_port, f"user{c}"))
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(circuits, n)))
    rate = (n - circuits) / (time.perf_counter() - t0)
    return writers, rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=10_000)
    args = ap.parse_args()
    limit = raise_fd_limit()
    if limit < args.streams + 1000:
        raise SystemExit(f"need {args.streams + 1000} file descriptors, have {limit}")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="conet-bench-"))
    sink = Proc([sys.executable, pathlib.Path(__file__).with_name("sink.py")], r"sink listening on (\d+)",
                tmp / "sink.log", "sink")
    sink_port = int(sink.ready_match.group(1))
    net = conet_network(tmp, pool=1)
    try:
        pids = {r.name: r.proc.p.pid for r in net.relays}
        circuits = max(1, (args.streams + 999) // 1000)

        async def main_async():
            # Warm-up stream so baseline RSS includes links and one circuit.
            w = await open_stream(net.proxy.port, sink_port, "warmup")
            w.close()
            await asyncio.sleep(0.5)
            before = {k: rss_kib(p) for k, p in pids.items()}
            writers, rate = await run(args.streams, net.proxy.port, sink_port, circuits)
            after = {k: rss_kib(p) for k, p in pids.items()}
            for w in writers:
                w.close()
            return before, after, rate

        before, after, rate = asyncio.run(main_async())
    finally:
        net.stop()
        sink.kill()
    print(f"scale, {args.streams} concurrent idle streams through one relay pair:")
    print(f"  new streams per second: {rate:,.0f}  (goal >= 1,000/s)")
    for k in before:
        per = (after[k] - before[k]) * 1024 / args.streams
        print(f"  {k}: RSS {before[k] / 1024:.1f} -> {after[k] / 1024:.1f} MiB, {per / 1024:.1f} KiB per stream")
    worst = max((after[k] - before[k]) * 1024 / args.streams for k in before)
    print(f"  worst relay memory per stream: {worst / 1024:.1f} KiB  (goal <= 4 KiB; each relay is entry for some"
          " circuits and exit for others)")


if __name__ == "__main__":
    main()
