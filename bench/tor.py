#!/usr/bin/env python3
"""Against Tor: a private Tor network on loopback (3 directory authorities, 3
exit relays and a client, Debian's `tor`; nothing contacts the public Tor
network) and a CONET network (3 relays, a 2-hop and a 3-hop proxy), measured in
the same run through curl's SOCKS5 client, next to direct requests:

  1. throughput of one large download (`--bytes`, median of `--runs`);
  2. time to first byte of a small request, a new connection each, circuits
     already built (median of `--requests`, curl's %{time_starttransfer}).

Tor is measured twice: as shipped (KIST scheduler, the public consensus's
2 ms tick), then, after a SIGHUP to every tor, with its Vanilla scheduler,
which is faster on loopback (KIST paces writes by ticks, meant for real
links). Prints the ratios the goals are stated in, against both: CONET
throughput / Tor >= 20, CONET TTFB / Tor <= 0.2. Exit code 0 either way.
Takes 3-5 minutes, most of it Tor's bootstrap (~85 s) and its downloads.

Usage: bench/tor.py [--bytes N] [--runs R] [--requests N] [--keep]
"""
import argparse
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import Conet, Network, SourceServer, free_port, median, progress

TOR_BOOTSTRAP_TIMEOUT = 240  # seconds; typically 80-90 (consensuses come at 20 s voting boundaries)


class TorNetwork:
    """A private Tor network on 127.0.0.1: `authorities` directory authorities
    (relays too, not exits), `exits` relays that exit to 127.0.0.1 only, and a
    client with a SocksPort. TestingTorNetwork 1 and explicit DirAuthority lines
    replace every built-in authority and fallback directory."""

    def __init__(self, tmp, authorities=3, exits=3):
        self.tmp = pathlib.Path(tmp) / "tor"
        self.tmp.mkdir(parents=True)
        self.procs, self.torrcs = [], []
        self.nodes = [{"nick": f"auth{i}", "auth": True} for i in range(authorities)]
        self.nodes += [{"nick": f"exit{i}", "auth": False} for i in range(exits)]
        self.defaults = self.tmp / "torrc-defaults"  # empty: not /etc/tor/torrc-defaults
        self.defaults.write_text("")
        self.no_dns = self.tmp / "resolv.conf"  # empty: exits resolve nothing (URLs are IP literals)
        self.no_dns.write_text("")
        for n in self.nodes:
            n["dir"] = self.tmp / n["nick"]
            (n["dir"] / "keys").mkdir(parents=True)
            n["dir"].chmod(0o700)
            n["orport"] = free_port()
            if n["auth"]:
                n["dirport"] = free_port()
                self._authority_keys(n)
            n["fingerprint"] = self._fingerprint(n)
        self.socks_port, self.control_port = free_port(), free_port()
        self.client_dir = self.tmp / "client"
        self.client_dir.mkdir(mode=0o700)

    def _tor(self, *args):
        p = subprocess.run(["tor", "--defaults-torrc", self.defaults, *map(str, args)], capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=60)
        if p.returncode:
            raise RuntimeError(f"tor {args} failed: {p.stdout} {p.stderr}")
        return p.stdout

    def _authority_keys(self, n):
        """The v3 authority identity and signing keys and their certificate (tor-gencert)."""
        keys = n["dir"] / "keys"
        p = subprocess.run(["tor-gencert", "--create-identity-key", "--passphrase-fd", "0", "-m", "12",
                            "-i", keys / "authority_identity_key", "-s", keys / "authority_signing_key",
                            "-c", keys / "authority_certificate", "-a", f"127.0.0.1:{n['dirport']}"],
                           input="bench\n", capture_output=True, text=True, timeout=60)
        if p.returncode:
            raise RuntimeError(f"tor-gencert failed: {p.stdout} {p.stderr}")
        for line in (keys / "authority_certificate").read_text().splitlines():
            if line.startswith("fingerprint "):
                n["v3ident"] = line.split()[1]

    def _fingerprint(self, n):
        """Creates the relay's identity key and returns its RSA fingerprint."""
        out = self._tor("--ignore-missing-torrc", "-f", n["dir"] / "absent-torrc", "--DataDirectory", n["dir"],
                        "--ORPort", "1", "--list-fingerprint", "--Log", "err stderr")
        return out.strip().splitlines()[-1].split(" ", 1)[1].replace(" ", "")

    def _common(self, nick, data_dir):
        lines = [
            "TestingTorNetwork 1",
            f"DataDirectory {data_dir}",
            f"Nickname {nick}",
            f"Log notice file {data_dir}/notice.log",
            "SafeLogging 0",
            "ShutdownWaitLength 0",
            # Only the authorities below, never Tor's built-in ones or fallbacks.
            "UseDefaultFallbackDirs 0",
            "ClientUseIPv6 0",
            # Votes: every relay is Guard, HSDir and Exit (if its policy exits
            # anywhere) at once, without the uptime and bandwidth Tor requires.
            "TestingDirAuthVoteExit *",
            "TestingDirAuthVoteGuard *",
            "TestingDirAuthVoteHSDir *",
            "TestingMinExitFlagThreshold 0",
            "PathsNeededToBuildCircuits 0.67",
            "V3AuthNIntervalsValid 2",
            f"__OwningControllerProcess {os.getpid()}",  # tor exits if this script dies
        ]
        for a in self.nodes:
            if a["auth"]:
                lines.append(f"DirAuthority {a['nick']} orport={a['orport']} no-v2 v3ident={a['v3ident']} "
                             f"127.0.0.1:{a['dirport']} {a['fingerprint']}")
        return lines

    def _relay_torrc(self, n):
        lines = self._common(n["nick"], n["dir"]) + [
            "SocksPort 0",
            "Address 127.0.0.1",
            f"ORPort 127.0.0.1:{n['orport']}",
            "AssumeReachable 1",  # publish the descriptor without waiting for the reachability self-test
            "ContactInfo bench@localhost",
        ]
        if n["auth"]:
            lines += [
                f"DirPort 127.0.0.1:{n['dirport']}",
                "AuthoritativeDirectory 1",
                "V3AuthoritativeDirectory 1",
                # A consensus every 20 s (the first one too), as chutney does.
                "TestingV3AuthInitialVotingInterval 20",
                "TestingV3AuthInitialVoteDelay 4",
                "TestingV3AuthInitialDistDelay 4",
                "V3AuthVotingInterval 20",
                "V3AuthVoteDelay 4",
                "V3AuthDistDelay 4",
                # As in the public network's consensus (tor's built-in default is 10 ms).
                "ConsensusParams KISTSchedRunInterval=2",
                "ExitRelay 0",
                "ExitPolicy reject *:*",
            ]
        else:
            lines += [
                "ExitRelay 1",
                "ExitPolicyRejectPrivate 0",
                "ExitPolicyRejectLocalInterfaces 0",
                "ExitPolicy accept 127.0.0.1:*",
                "ExitPolicy reject *:*",
                "ServerDNSDetectHijacking 0",
                "ServerDNSTestAddresses",
                f"ServerDNSResolvConfFile {self.no_dns}",
            ]
        return lines

    def _client_torrc(self):
        return self._common("client", self.client_dir) + [
            f"SocksPort 127.0.0.1:{self.socks_port}",
            f"ControlPort 127.0.0.1:{self.control_port}",
            "CookieAuthentication 1",
            # Full descriptors: a microdescriptor's exit policy summary leaves out
            # private addresses, so no exit would seem to allow 127.0.0.1.
            "UseMicrodescriptors 0",
        ]

    def _start(self, data_dir, lines):
        torrc = data_dir / "torrc"
        torrc.write_text("\n".join(lines) + "\n")
        self._tor("--verify-config", "-f", torrc)
        self.torrcs.append(torrc)
        log = open(data_dir / "stdout.log", "wb")
        # Its own session: Ctrl-C reaches this script, which stops every tor.
        self.procs.append(subprocess.Popen(["tor", "--defaults-torrc", self.defaults, "-f", torrc], stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True))

    def start(self):
        """Starts the authorities and relays; wait_bootstrapped() starts the client."""
        for n in self.nodes:
            self._start(n["dir"], self._relay_torrc(n))

    def wait_bootstrapped(self, probe):
        """Waits until every relay has published its descriptor after its bandwidth self-test (the
        first measured bandwidth makes each relay publish a new descriptor, once: a client that
        bootstraps before that sees the exits without descriptors for a while, takes them for
        non-exits and builds circuits in a loop) and a consensus voted after that is out; then
        starts the client and waits for its "Bootstrapped 100%" and two successful probe()s."""
        deadline = time.monotonic() + TOR_BOOTSTRAP_TIMEOUT
        logs = [n["dir"] / "notice.log" for n in self.nodes]
        consensus = self.nodes[0]["dir"] / "cached-consensus"
        tested = None
        while tested is None or not consensus.exists() or consensus.stat().st_mtime < tested + 10:
            self.check_alive(deadline, "relays' self-tests and a consensus after them")
            if tested is None and all(log.exists() and "bandwidth self-test...done" in log.read_text(
                    errors="replace") for log in logs):
                tested = time.time()
            time.sleep(0.5)
        self._start(self.client_dir, self._client_torrc())
        log = self.client_dir / "notice.log"
        ok = 0
        while ok < 2:
            self.check_alive(deadline, "the client's bootstrap")
            if log.exists() and "Bootstrapped 100%" in log.read_text(errors="replace"):
                try:
                    probe()
                    ok += 1
                    continue
                except RuntimeError:
                    ok = 0
            time.sleep(1)

    def check_alive(self, deadline=None, waiting_for=""):
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"a tor process exited ({p.returncode})\n{self.log_tails()}")
        if deadline is not None and time.monotonic() > deadline:
            raise RuntimeError(f"the Tor network did not bootstrap in {TOR_BOOTSTRAP_TIMEOUT} s, waiting for "
                               f"{waiting_for} (logs in {self.tmp})\n{self.log_tails()}")

    def set_scheduler(self, name):
        """Rewrites every torrc with `Schedulers name` and reloads every tor (SIGHUP)."""
        for torrc, p in zip(self.torrcs, self.procs):
            lines = [x for x in torrc.read_text().splitlines() if not x.startswith("Schedulers ")]
            torrc.write_text("\n".join(lines + [f"Schedulers {name}"]) + "\n")
            p.send_signal(signal.SIGHUP)
        time.sleep(2)
        self.check_alive()

    def log_tails(self, lines=8):
        out = []
        for d in sorted(p for p in self.tmp.iterdir() if p.is_dir()):
            log = d / "notice.log"
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
            out.append(f"--- {d.name}\n" + "\n".join(text))
        return "\n".join(out)

    def control(self):
        """An authenticated control connection to the client."""
        s = socket.create_connection(("127.0.0.1", self.control_port), timeout=10)
        cookie = (self.client_dir / "control_auth_cookie").read_bytes().hex()
        s.sendall(f"AUTHENTICATE {cookie}\r\n".encode())
        if not s.recv(1024).startswith(b"250"):
            raise RuntimeError("tor control port: authentication failed")
        return s

    def watch_streams(self, host, port):
        """Records the circuit each new stream to host:port is attached to (STREAM events).
        Returns (stop, the set of circuit ids); stop() ends the recording."""
        s, circuit_ids = self.control(), set()
        s.settimeout(None)
        s.sendall(b"SETEVENTS STREAM\r\n")

        def read():
            buf = b""
            try:
                while chunk := s.recv(65536):
                    buf += chunk
                    *lines, buf = buf.split(b"\r\n")
                    for f in (line.decode(errors="replace").split() for line in lines):
                        if (len(f) >= 6 and f[:2] == ["650", "STREAM"] and f[3] == "SUCCEEDED"
                                and f[5].startswith(host) and f[5].endswith(f":{port}")):  # "host.$FP.exit:port"
                            circuit_ids.add(f[4])
            except OSError:
                pass

        def stop():
            s.shutdown(socket.SHUT_RDWR)  # wakes the reader
            s.close()

        threading.Thread(target=read, daemon=True).start()
        return stop, circuit_ids

    def circuits(self):
        """{circuit id: (hops, purpose)} of the client's built circuits (GETINFO circuit-status)."""
        with self.control() as s:
            s.sendall(b"GETINFO circuit-status\r\nQUIT\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        out = {}
        for f in (line.split() for line in data.decode(errors="replace").splitlines()):
            if len(f) >= 3 and f[1] == "BUILT":
                purpose = next((x.split("=", 1)[1] for x in f if x.startswith("PURPOSE=")), "")
                out[f[0]] = (len(f[2].split(",")), purpose)
        return out

    def fresh_exit_circuit(self, url, hops=3, attempts=4):
        """Until a few requests to url run on circuits of `hops` hops: when a new stream finds no exit
        circuit ready, tor extends a pre-built internal one by a hop (4 hops); NEWNYM then makes it take
        a clean circuit. Returns the hop counts seen last."""
        host, port = url.split("/")[2].rsplit(":", 1)
        for _ in range(attempts):
            stop, ids = self.watch_streams(host, int(port))
            for _ in range(3):
                curl(self.socks_port, url, timeout=30)
            time.sleep(0.2)
            stop()
            built = self.circuits()
            seen = {built[c][0] for c in ids if c in built}
            if seen == {hops}:
                break
            with self.control() as s:
                s.sendall(b"SIGNAL NEWNYM\r\n")
                s.recv(1024)
            time.sleep(3)  # predicted exit circuits for this port get built meanwhile
        return seen

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


retries = 0


def curl(proxy, url, timeout=600, attempts=2):
    """One curl GET (through a SOCKS5 proxy port, or direct if None), tried again once on a failure:
    (bytes, seconds, seconds to first byte)."""
    global retries
    args = ["curl", "-sS", "--fail", "-o", "/dev/null", "--max-time", str(timeout),
            "-w", "%{size_download} %{time_total} %{time_starttransfer}"]
    if proxy:
        args += ["--socks5-hostname", f"127.0.0.1:{proxy}"]
    for attempt in range(attempts):
        out = subprocess.run([*args, url], capture_output=True, text=True, timeout=timeout + 10)
        if out.returncode == 0:
            size, total, ttfb = out.stdout.split()
            return int(size), float(total), float(ttfb)
        if attempt + 1 < attempts:
            retries += 1
            time.sleep(1)
    raise RuntimeError(f"curl {url} via {proxy or 'direct'} failed: {out.stderr.strip()}")


def throughput(proxy, url, n):
    size, total, _ = curl(proxy, url)
    if size != n:
        raise RuntimeError(f"download via {proxy}: {size} of {n} bytes")
    return n / total / 1e6


def measure(paths, small, big, args, rate, ttfb):
    """TTFB rounds, then throughput runs, each interleaved over the paths so that load on the machine
    hits every path alike."""
    for name, port in paths.items():  # warm up: circuits built, code paths hot
        for _ in range(5):
            curl(port, small, timeout=60)
        curl(port, big.rsplit("/", 1)[0] + f"/{1 << 20}", timeout=60)
    progress(f"time to first byte: {args.requests} requests per path")
    for _ in range(args.requests):
        for name, port in paths.items():
            ttfb.setdefault(name, []).append(curl(port, small, timeout=60)[2] * 1000)
    for run in range(args.runs):
        progress(f"download run {run + 1}/{args.runs} over {', '.join(paths)}")
        for name, port in paths.items():
            rate.setdefault(name, []).append(throughput(port, big, args.bytes))


def verdict(ok):
    return "met" if ok else "NOT met"  # printed as "goal met" / "goal NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bytes", type=int, default=256 << 20, help="size of the large download")
    ap.add_argument("--runs", type=int, default=3, help="large downloads per path (median)")
    ap.add_argument("--requests", type=int, default=20, help="small requests per path for TTFB (median)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory and its logs")
    args = ap.parse_args()
    for tool in ("tor", "tor-gencert", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: scripts/install-deps.sh --bench")
    conet = Conet()
    # SIGTERM cleans up like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    t_start = time.monotonic()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="conet-bench-tor-"))
    src = SourceServer()
    big, small = f"http://127.0.0.1:{src.port}/{args.bytes}", f"http://127.0.0.1:{src.port}/small"
    tor = net = None
    rate, ttfb = {}, {}
    code = 1
    try:
        tor = TorNetwork(tmp)
        tor.start()  # bootstraps while CONET starts
        (tmp / "conet").mkdir()
        net = Network(conet, tmp / "conet")
        for i in range(3):
            net.add_relay(f"bench{i}", "DE" if i % 2 == 0 else "US")
        conet2 = net.start(["--hops", "2"]).port
        conet3 = net.start_proxy("--hops", "3").port
        tor.wait_bootstrapped(lambda: curl(tor.socks_port, small, timeout=10, attempts=1))
        print(f"Tor network bootstrapped {time.monotonic() - t_start:.0f} s after start", flush=True)

        tor_kist = "tor (KIST, default)"
        tor.fresh_exit_circuit(small)
        stop_watch, stream_circuits = tor.watch_streams("127.0.0.1", src.port)
        measure({"direct": None, tor_kist: tor.socks_port, "conet (2 hops)": conet2, "conet (3 hops)": conet3},
                small, big, args, rate, ttfb)
        tor.set_scheduler("Vanilla")
        measure({"tor (Vanilla)": tor.socks_port}, small, big, args, rate, ttfb)
        stop_watch()
        built = tor.circuits()
        used = [built[c] for c in stream_circuits if c in built]
        code = 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    finally:
        if net:
            net.stop()
        if tor:
            tor.stop()
        if args.keep or code not in (0, 130):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if code:
        return code

    hops = sorted({h for h, _ in used})
    conflux = sum(1 for _, purpose in used if purpose.startswith("CONFLUX"))
    print(f"Tor: the measured streams used {len(used)} circuit(s) of {'/'.join(map(str, hops)) or '?'} hops (Tor's "
          f"default is 3: guard, middle, exit), {conflux} of them conflux legs (data split over 2 circuits to one "
          f"exit); {len(built)} circuits built in all")
    print(f"{args.bytes / (1 << 20):.0f} MiB download (MB/s, median of {args.runs}); time to first byte of a small "
          f"request, new connection each (ms, median of {args.requests}):")
    print(f"  {'path':20s} {'MB/s':>8s} {'TTFB ms':>8s}   throughput runs")
    for name in rate:
        print(f"  {name:20s} {median(rate[name]):8.1f} {median(ttfb[name]):8.2f}   "
              f"{', '.join(f'{r:.1f}' for r in rate[name])}")
    print("ratios CONET / Tor (goals: throughput >= 20, TTFB <= 0.2):")
    for name in ("conet (2 hops)", "conet (3 hops)"):
        for tor_name in (tor_kist, "tor (Vanilla)"):
            r = median(rate[name]) / median(rate[tor_name])
            t = median(ttfb[name]) / median(ttfb[tor_name])
            thr = f"throughput {r:5.1f} (goal {verdict(r >= 20)})"
            print(f"  {name} vs {tor_name:20s} {thr:34s} TTFB {t:5.3f} (goal {verdict(t <= 0.2)})")
    if retries:
        print(f"({retries} request(s) failed once and were retried)")
    print(f"total {time.monotonic() - t_start:.0f} s; 2 cores shared with everything else: noisy when busy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
