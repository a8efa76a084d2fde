"""A second client built on docs/protocol.md only (pure Python on
python3-cryptography, no CONET code): it builds 1-, 2- and 3-hop circuits in
both ways the document describes (a first hop with a session, and a
session-less first hop extended with the EXTEND cell), fetches a page through
each, follows the documented flow control and checks errors the document
promises. (Written by the document's author, who had read the code: it shows
the document is right where it exercises it.)"""
import hashlib
import hmac
import socket
import struct
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from httpd import expected_sha256
from netlib import Httpd, Network

# docs/protocol.md, "Cryptography", "Cells"
NK = b"Noise_NK_25519_ChaChaPoly_BLAKE2b"
LINK_PROLOGUE = b"CONET link v2"
CIRCUIT_PROLOGUE = b"CONET circuit v1"
CREATE, CREATED, RELAY, DESTROY, EXTEND, EXTENDED, PING, PONG = range(1, 9)
BEGIN, CONNECTED, DATA, END, RESET, SENDME, R_EXTEND, R_EXTENDED = range(1, 9)
DESTROYED, PROTOCOL_ERROR = 7, 8


class Cipher:
    """ChaChaPoly with the 64-bit counter nonce (little-endian after 4 zero bytes), empty AD by default."""

    def __init__(self, key):
        self.aead, self.n = ChaCha20Poly1305(key), 0

    def _nonce(self):
        self.n += 1
        return b"\0\0\0\0" + struct.pack("<Q", self.n - 1)

    def encrypt(self, plaintext, ad=b""):
        return self.aead.encrypt(self._nonce(), plaintext, ad)

    def decrypt(self, ciphertext, ad=b""):
        return self.aead.decrypt(self._nonce(), ciphertext, ad)


def hkdf2(ck, ikm):
    temp = hmac.new(ck, ikm, hashlib.blake2b).digest()
    o1 = hmac.new(temp, b"\x01", hashlib.blake2b).digest()
    return o1, hmac.new(temp, o1 + b"\x02", hashlib.blake2b).digest()


class NKInitiator:
    """Noise NK, initiator side, empty payloads: message 1 out, message 2 in, then the two ciphers."""

    def __init__(self, prologue, rs):
        self.h = NK.ljust(64, b"\0")
        self.ck, self.k = self.h, None
        self.mix_hash(prologue)
        self.mix_hash(rs)
        self.rs = X25519PublicKey.from_public_bytes(rs)
        self.e = X25519PrivateKey.generate()

    def mix_hash(self, data):
        self.h = hashlib.blake2b(self.h + data).digest()

    def mix_key(self, dh):
        self.ck, k = hkdf2(self.ck, dh)
        self.k = Cipher(k[:32])

    def message1(self):
        e_pub = self.e.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.mix_hash(e_pub)
        self.mix_key(self.e.exchange(self.rs))
        ct = self.k.encrypt(b"", self.h)
        self.mix_hash(ct)
        return e_pub + ct

    def finish(self, message2):
        assert len(message2) == 48, len(message2)
        re = message2[:32]
        self.mix_hash(re)
        self.mix_key(self.e.exchange(X25519PublicKey.from_public_bytes(re)))
        assert self.k.decrypt(message2[32:], self.h) == b""
        k1, k2 = hkdf2(self.ck, b"")
        return Cipher(k1[:32]), Cipher(k2[:32])  # (send, receive) for the initiator


class UserLink:
    """A client link (kind 1, NK) to a relay: one cell per transport frame."""

    def __init__(self, port, relay_key):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        hs = NKInitiator(LINK_PROLOGUE + b"\x01", relay_key)
        m1 = hs.message1()
        self.sock.sendall(b"\x01" + struct.pack(">H", len(m1)) + m1)
        self.send_cipher, self.recv_cipher = hs.finish(self._frame())

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("link closed")
            out += chunk
        return out

    def _frame(self):
        return self._exact(struct.unpack(">H", self._exact(2))[0])

    def send_cell(self, circuit_id, command, body=b""):
        record = self.send_cipher.encrypt(struct.pack(">IB", circuit_id, command) + body)
        self.sock.sendall(struct.pack(">H", len(record)) + record)

    def recv_cell(self, timeout=30):
        deadline = time.monotonic() + timeout  # PINGs from the relay do not extend it
        while True:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            cell = self.recv_cipher.decrypt(self._frame())
            circuit_id, command = struct.unpack(">IB", cell[:5])
            if command == PING:
                self.send_cell(circuit_id, PONG, cell[5:])
            elif command != PONG:
                return circuit_id, command, cell[5:]

    def close(self):
        self.sock.close()


def relay_message(command, stream_id, body=b""):
    return struct.pack(">BI", command, stream_id) + body


def extend_request(key, m1):
    return key + struct.pack(">I", len(m1)) + m1


class Circuit:
    def __init__(self, link, circuit_id):
        self.link, self.id = link, circuit_id
        self.sessions = []  # (send, receive) per hop with a session, in path order

    def expect(self, command):
        circuit_id, got, body = self.link.recv_cell()
        assert circuit_id == self.id
        assert got == command, (got, body.hex())
        return body

    def create(self, first_key, with_session):
        if with_session:
            hs = NKInitiator(CIRCUIT_PROLOGUE, first_key)
            self.link.send_cell(self.id, CREATE, hs.message1())
            self.sessions.append(hs.finish(self.expect(CREATED)))
        else:
            self.link.send_cell(self.id, CREATE)
            assert self.expect(CREATED) == b""

    def send(self, message):
        """Seal for the last hop with a session, then every earlier one; no marker going forward."""
        for send, _ in reversed(self.sessions):
            message = send.encrypt(message)
        self.link.send_cell(self.id, RELAY, message)

    def receive(self):
        """Open layers in path order until a 0x00 marker: (hop index in sessions, relay message)."""
        body = self.expect(RELAY)
        for i, (_, receive) in enumerate(self.sessions):
            plain = receive.decrypt(body)
            if plain[0] == 0:
                command, stream_id = struct.unpack(">BI", plain[1:6])
                return i, command, stream_id, plain[6:]
            assert plain[0] == 1, plain[0]
            body = plain[1:]
        raise AssertionError("no hop claimed the message")

    def extend(self, key):
        hs = NKInitiator(CIRCUIT_PROLOGUE, key)
        request = extend_request(key, hs.message1())
        if not self.sessions:
            self.link.send_cell(self.id, EXTEND, request)
            m2 = self.expect(EXTENDED)
        else:
            self.send(relay_message(R_EXTEND, 0, request))
            hop, command, stream_id, m2 = self.receive()
            assert (hop, command, stream_id) == (len(self.sessions) - 1, R_EXTENDED, 0)
        self.sessions.append(hs.finish(m2))

    def fetch(self, stream_id, port, path):
        target = b"127.0.0.1"
        self.send(relay_message(BEGIN, stream_id, struct.pack(">I", len(target)) + target + struct.pack(">H", port)))
        assert self.receive() == (len(self.sessions) - 1, CONNECTED, stream_id, b"")
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        self.send(relay_message(DATA, stream_id, request))
        response = b""
        stream_unacked = circuit_unacked = 0
        while True:
            hop, command, sid, body = self.receive()
            assert hop == len(self.sessions) - 1 and sid == stream_id
            if command == END:
                break
            assert command == DATA, command
            response += body
            # "Flow control": credit back what was consumed, in bytes, per stream every 1 MiB (more often
            # than the receiver must: any credit up to what was sent is valid)
            # and per circuit (stream 0) every 4 MiB.
            stream_unacked += len(body)
            circuit_unacked += len(body)
            if stream_unacked >= 1 << 20:
                self.send(relay_message(SENDME, stream_id, struct.pack(">I", stream_unacked)))
                stream_unacked = 0
            if circuit_unacked >= 4 << 20:
                self.send(relay_message(SENDME, 0, struct.pack(">I", circuit_unacked)))
                circuit_unacked = 0
        self.send(relay_message(END, stream_id))
        return response.partition(b"\r\n\r\n")[2]


@pytest.fixture(scope="module")
def httpd(tmp_path_factory):
    h = Httpd(tmp_path_factory.mktemp("httpd"))
    yield h
    h.stop()


@pytest.fixture(scope="module")
def relays(conet, tmp_path_factory):
    with Network(conet, tmp_path_factory.mktemp("net")) as n:
        for i in range(3):
            n.add_relay(f"r{i}", "DE")
        n.write_directory()
        for r in n.relays:
            r.start()
        yield [(r.port, bytes.fromhex(r.record["noise_key"])) for r in n.relays]


@pytest.mark.parametrize("hops,entry_session", [(1, True), (2, False), (2, True), (3, False), (3, True)])
def test_a_client_written_from_the_document_builds_circuits_and_fetches(relays, httpd, hops, entry_session):
    (port, entry_key), *later = relays
    link = UserLink(port, entry_key)
    try:
        circuit = Circuit(link, 0x01020304)
        circuit.create(entry_key, entry_session)
        for _, key in later[:hops - 1]:
            circuit.extend(key)
        assert len(circuit.sessions) == hops - (0 if entry_session else 1)
        body = circuit.fetch(1, httpd.port, "/bytes/200000?seed=5")
        assert hashlib.sha256(body).hexdigest() == expected_sha256(200000, 5)
        circuit.link.send_cell(circuit.id, DESTROY, bytes([0]))
    finally:
        link.close()


def test_the_wrong_extend_for_the_first_hop_destroys_the_circuit(relays):
    (port, entry_key), (_, next_key), _ = relays
    link = UserLink(port, entry_key)
    try:
        # An entry with a session takes only the relay EXTEND: the EXTEND cell is a protocol error.
        with_session = Circuit(link, 1)
        with_session.create(entry_key, True)
        link.send_cell(1, EXTEND, extend_request(next_key, NKInitiator(CIRCUIT_PROLOGUE, next_key).message1()))
        assert with_session.expect(DESTROY) == bytes([PROTOCOL_ERROR])
        # A session-less entry cannot read relay messages: a RELAY cell with no next hop is a protocol error.
        without = Circuit(link, 2)
        without.create(entry_key, False)
        link.send_cell(2, RELAY, relay_message(R_EXTEND, 0, b"x" * 40))
        assert without.expect(DESTROY) == bytes([PROTOCOL_ERROR])
        # The link survives both: a new circuit on it still works.
        fresh = Circuit(link, 3)
        fresh.create(entry_key, True)
        assert len(fresh.sessions) == 1
    finally:
        link.close()


def test_the_documented_sendme_credit_carries_a_download_past_both_windows(relays, httpd):
    # 20 MiB is more than the stream and circuit windows (16 MiB each): without
    # SENDMEs of the right unit the exit stops sending and the read times out.
    (port, entry_key), (_, exit_key), _ = relays
    link = UserLink(port, entry_key)
    try:
        circuit = Circuit(link, 7)
        circuit.create(entry_key, False)
        circuit.extend(exit_key)
        body = circuit.fetch(1, httpd.port, f"/bytes/{20 << 20}?seed=8")
        assert hashlib.sha256(body).hexdigest() == expected_sha256(20 << 20, 8)
    finally:
        link.close()


def test_credit_beyond_the_window_is_a_protocol_error(relays):
    (port, entry_key), (_, exit_key), _ = relays
    link = UserLink(port, entry_key)
    try:
        circuit = Circuit(link, 9)
        circuit.create(entry_key, False)
        circuit.extend(exit_key)
        circuit.send(relay_message(SENDME, 0, struct.pack(">I", 1)))  # the exit's circuit window is full already
        # The exit destroys the circuit (8); the entry passes the DESTROY on as reason 7.
        assert circuit.expect(DESTROY) == bytes([DESTROYED])
    finally:
        link.close()
