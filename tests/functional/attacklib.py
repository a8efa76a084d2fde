"""An adversarial CONET client for the attack tests, written from docs/protocol.md
(not from the C++ code): Noise NK links and circuit hops (25519, ChaChaPoly,
BLAKE2b) in pure Python on python3-cryptography, raw cells, and helpers that
measure a process (RSS) and serve hostile destinations (a one-byte trickle).

It speaks just enough of the protocol to misbehave on purpose: it can stop
reading its link, flood CREATEs, open idle connections and push data past
the flow-control windows."""
import hashlib
import hmac
import os
import socket
import struct
import threading
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

HASHLEN = 64
LINK_PROLOGUE = b"CONET link v2"
CIRCUIT_PROLOGUE = b"CONET circuit v1"
NK_NAME = b"Noise_NK_25519_ChaChaPoly_BLAKE2b"

# Cell and relay commands (docs/protocol.md)
CREATE, CREATED, RELAY, DESTROY, EXTEND, EXTENDED, PING, PONG = 1, 2, 3, 4, 5, 6, 7, 8
BEGIN, CONNECTED, DATA, END, RESET, SENDME = 1, 2, 3, 4, 5, 6
LINK_CLIENT = 1


def _raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _hkdf(ck, ikm, n):
    temp = hmac.new(ck, ikm, hashlib.blake2b).digest()
    out1 = hmac.new(temp, b"\x01", hashlib.blake2b).digest()
    if n == 2:
        return out1, hmac.new(temp, out1 + b"\x02", hashlib.blake2b).digest()
    raise ValueError(n)


class Cipher:
    """A Noise CipherState: ChaCha20-Poly1305 with a 64-bit little-endian counter nonce."""

    def __init__(self, key):
        self.aead = ChaCha20Poly1305(key[:32])
        self.n = 0

    def _nonce(self):
        nonce = b"\x00" * 4 + struct.pack("<Q", self.n)
        self.n += 1
        return nonce

    def encrypt(self, plaintext, ad=b""):
        return self.aead.encrypt(self._nonce(), plaintext, ad)

    def decrypt(self, ciphertext, ad=b""):
        return self.aead.decrypt(self._nonce(), ciphertext, ad)


class NKInitiator:
    """Noise NK, initiator side: <- s ... -> e, es ... <- e, ee. Empty payloads."""

    def __init__(self, prologue, responder_static):
        self.h = NK_NAME + b"\x00" * (HASHLEN - len(NK_NAME))
        self.ck = self.h
        self.k = None
        self._mix_hash(prologue)
        self._mix_hash(responder_static)
        self.rs = X25519PublicKey.from_public_bytes(responder_static)
        self.e = X25519PrivateKey.generate()

    def _mix_hash(self, data):
        self.h = hashlib.blake2b(self.h + data).digest()

    def _mix_key(self, ikm):
        self.ck, temp = _hkdf(self.ck, ikm, 2)
        self.k = Cipher(temp)

    def _encrypt_and_hash(self, pt):
        ct = self.k.encrypt(pt, self.h)
        self._mix_hash(ct)
        return ct

    def _decrypt_and_hash(self, ct):
        pt = self.k.decrypt(ct, self.h)
        self._mix_hash(ct)
        return pt

    def message1(self):
        e_pub = _raw(self.e.public_key())
        self._mix_hash(e_pub)
        self._mix_key(self.e.exchange(self.rs))
        return e_pub + self._encrypt_and_hash(b"")

    def read_message2(self, msg):
        re = msg[:32]
        self._mix_hash(re)
        self._mix_key(self.e.exchange(X25519PublicKey.from_public_bytes(re)))
        self._decrypt_and_hash(msg[32:])
        k1, k2 = _hkdf(self.ck, b"", 2)
        return Cipher(k1), Cipher(k2)  # (send, receive)


def cell(circuit_id, command, body=b""):
    return struct.pack(">IB", circuit_id, command) + body


def relay_message(command, stream_id, body=b""):
    return struct.pack(">BI", command, stream_id) + body


def target(host, port):
    h = host.encode()
    return struct.pack(">I", len(h)) + h + struct.pack(">H", port)


class RawLink:
    """A client (NK) link to a relay over one TCP connection from `source_ip`."""

    def __init__(self, port, relay_key, source_ip="127.0.0.1", timeout=30, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.bind((source_ip, 0))
        self.sock.connect(("127.0.0.1", port))
        hs = NKInitiator(LINK_PROLOGUE + bytes([LINK_CLIENT]), relay_key)
        m1 = hs.message1()
        self.sock.sendall(bytes([LINK_CLIENT]) + struct.pack(">H", len(m1)) + m1)
        m2 = self._read_frame()
        self.tx, self.rx = hs.read_message2(m2)

    def _read_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError(f"link closed after {len(out)} of {n} bytes")
            out += chunk
        return out

    def _read_frame(self):
        (n,) = struct.unpack(">H", self._read_exact(2))
        return self._read_exact(n)

    def frame(self, plaintext_cell):
        ct = self.tx.encrypt(plaintext_cell)
        return struct.pack(">H", len(ct)) + ct

    def send_cell(self, circuit_id, command, body=b""):
        self.sock.sendall(self.frame(cell(circuit_id, command, body)))

    def recv_cell(self):
        """Next cell other than PING/PONG: (circuit_id, command, body)."""
        while True:
            pt = self.rx.decrypt(self._read_frame())
            circuit_id, command = struct.unpack(">IB", pt[:5])
            if command in (PING, PONG):
                continue
            return circuit_id, command, pt[5:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Hop:
    """One onion layer: a circuit handshake with a relay, then its transport ciphers."""

    def __init__(self, relay_key):
        self.hs = NKInitiator(CIRCUIT_PROLOGUE, relay_key)
        self.fwd = self.back = None

    def create_body(self):
        return self.hs.message1()

    def finish(self, reply):
        self.fwd, self.back = self.hs.read_message2(reply)


class OneHopCircuit:
    """A circuit of one hop (the relay is the exit), over a RawLink."""

    def __init__(self, link, relay_key, circuit_id):
        self.link, self.id = link, circuit_id
        self.hop = Hop(relay_key)
        link.send_cell(circuit_id, CREATE, self.hop.create_body())
        cid, cmd, body = link.recv_cell()
        assert (cid, cmd) == (circuit_id, CREATED), (cid, cmd, body)
        self.hop.finish(body)

    def relay_cell(self, command, stream_id, body=b""):
        """The framed link record for one relay message (to send now or later)."""
        sealed = self.hop.fwd.encrypt(relay_message(command, stream_id, body))
        return self.link.frame(cell(self.id, RELAY, sealed))

    def send(self, command, stream_id, body=b""):
        self.link.sock.sendall(self.relay_cell(command, stream_id, body))

    def recv(self):
        """Next relay message on this circuit: (command, stream_id, body); DESTROY raises."""
        cid, cmd, body = self.link.recv_cell()
        if cmd == DESTROY:
            raise ConnectionError(f"circuit destroyed, reason {body[:1].hex()}")
        assert (cid, cmd) == (self.id, RELAY), (cid, cmd)
        pt = self.hop.back.decrypt(body)
        assert pt[0] == 0, "a one-hop circuit's messages come from its own hop"
        command, stream_id = struct.unpack(">BI", pt[1:6])
        return command, stream_id, pt[6:]


def relay_key(record):
    return bytes.fromhex(record["noise_key"].removeprefix("0x"))


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class _Destination:
    """A TCP server on 127.0.0.1 that runs `serve(socket)` for each client in its own thread."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.serve(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stopped.set()
        self.listener.close()


class TrickleServer(_Destination):
    """A destination that sends one byte per TCP segment to every client, as
    fast as it can, for as long as the client keeps its connection."""

    sent = 0

    def serve(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(5)
        while not self.stopped.is_set():
            c.send(b"x")
            self.sent += 1


class SilentServer(_Destination):
    """A destination that accepts and never sends (until closed)."""

    def serve(self, c):
        self.stopped.wait()


class BulkServer(_Destination):
    """A destination that sends `size` random-looking bytes to each client, then closes."""

    def __init__(self, size):
        self.payload = os.urandom(1 << 20)
        self.size = size
        super().__init__()

    def serve(self, c):
        c.settimeout(60)
        left = self.size
        while left > 0 and not self.stopped.is_set():
            n = min(left, len(self.payload))
            c.sendall(self.payload[:n])
            left -= n


def timed(fn):
    """(result, seconds) of calling fn()."""
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def extend_body(node_key, handshake):
    """ExtendRequest: the next hop's Noise key (32 bytes), then NK message 1 (u32 length + bytes)."""
    return node_key + struct.pack(">I", len(handshake)) + handshake


class TwoHopCircuit:
    """entry -> exit, with a session at both hops (CREATE carries NK message 1,
    then a relay EXTEND sealed for the entry)."""

    def __init__(self, link, entry_key, exit_key, circuit_id):
        self.link, self.id = link, circuit_id
        self.hops = [Hop(entry_key), Hop(exit_key)]
        link.send_cell(circuit_id, CREATE, self.hops[0].create_body())
        cid, cmd, body = link.recv_cell()
        assert (cid, cmd) == (circuit_id, CREATED), (cid, cmd, body)
        self.hops[0].finish(body)
        sealed = self.hops[0].fwd.encrypt(relay_message(EXTEND_RELAY, 0, extend_body(exit_key,
                                                                                   self.hops[1].create_body())))
        link.send_cell(circuit_id, RELAY, sealed)
        cid, cmd, body = link.recv_cell()
        assert (cid, cmd) == (circuit_id, RELAY), (cid, cmd, body)
        pt = self.hops[0].back.decrypt(body)
        command, stream_id = struct.unpack(">BI", pt[1:6])
        assert (pt[0], command, stream_id) == (0, EXTENDED_RELAY, 0), pt[:6]
        self.hops[1].finish(pt[6:])

    def relay_cell(self, command, stream_id, body=b""):
        inner = self.hops[1].fwd.encrypt(relay_message(command, stream_id, body))
        return self.link.frame(cell(self.id, RELAY, self.hops[0].fwd.encrypt(inner)))


EXTEND_RELAY, EXTENDED_RELAY = 7, 8


class Throttle:
    """A TCP forwarder from `listen_port` to `target_port` that carries at most
    `bytes_per_second` in each direction of each connection: a slow path."""

    def __init__(self, listen_port, target_port, bytes_per_second):
        self.target_port = target_port
        self.rate = bytes_per_second
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", listen_port))
        self.listener.listen(64)
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        chunk = max(1024, self.rate // 20)
        try:
            while not self.stopped.is_set():
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.stopped.set()
        self.listener.close()


class BlackHoleDns:
    """A DNS server on 127.0.9.53:53 (UDP) for a relay run in its own mount
    namespace with a resolv.conf naming it: names in `answers` resolve to
    their IPv4 address, every other name is never answered (a stuck lookup)."""

    def __init__(self, answers):
        # Port 53 is fixed (resolv.conf names no port): a random loopback
        # address keeps concurrent runs apart.
        import random
        self.ADDRESS = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
        self.answers = answers
        self.unanswered = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ADDRESS, 53))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return
            if len(query) < 12:
                continue
            labels, pos = [], 12
            while pos < len(query) and query[pos]:
                n = query[pos]
                labels.append(query[pos + 1:pos + 1 + n].decode(errors="replace"))
                pos += 1 + n
            name = ".".join(labels).lower()
            qtype = struct.unpack(">H", query[pos + 1:pos + 3])[0] if pos + 3 <= len(query) else 0
            question = query[12:pos + 5]
            if name not in self.answers:
                self.unanswered += 1
                continue  # never answered
            answer = b""
            if qtype == 1:  # A
                answer = (b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) +
                          socket.inet_aton(self.answers[name]))
            header = query[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, 1 if answer else 0, 0, 0)
            self.sock.sendto(header + question + answer, peer)

    def close(self):
        self.sock.close()
