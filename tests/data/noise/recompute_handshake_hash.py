#!/usr/bin/env python3
"""Recomputes the final Noise handshake hash h of cacophony-format vectors
from their public message bytes alone (Noise spec rev 34, sections 5.2-5.3),
using only hashlib: an implementation independent of conet's engine.

The handshake hash only depends on the protocol name, the prologue, the
public pre-message keys and the bytes of each handshake message, so it can be
checked without any Diffie-Hellman. Supports the non-PSK fundamental patterns
whose pre-messages carry static keys.

Usage: recompute_handshake_hash.py IN.json OUT.json
Writes OUT with each vector's handshake_hash replaced by the recomputed value
and prints, per vector, whether the input's value matched.
"""
import hashlib
import json
import sys

# pattern: (initiator pre-message, responder pre-message, messages)
PATTERNS = {
    "NN": ("", "", ["e", "e ee"]),
    "NK": ("", "s", ["e es", "e ee"]),
    "XK": ("", "s", ["e es", "e ee", "s se"]),
    "IK": ("", "s", ["e es s ss", "e ee se"]),
    "XX": ("", "", ["e", "e ee s es", "s se"]),
    "KK": ("s", "s", ["e es ss", "e ee se"]),
}
DH_TOKENS = {"ee", "es", "se", "ss"}


def blake2b(data):
    return hashlib.blake2b(data, digest_size=64).digest()


def handshake_hash(v):
    name = v["protocol_name"]
    pattern = name.split("_")[1]
    assert name.endswith("_25519_ChaChaPoly_BLAKE2b"), name
    pre_i, pre_r, messages = PATTERNS[pattern]
    raw = name.encode()
    h = raw + b"\0" * (64 - len(raw)) if len(raw) <= 64 else blake2b(raw)
    h = blake2b(h + bytes.fromhex(v.get("init_prologue", "")))
    if pre_i == "s":
        h = blake2b(h + bytes.fromhex(v["resp_remote_static"]))
    if pre_r == "s":
        h = blake2b(h + bytes.fromhex(v["init_remote_static"]))
    has_key = False
    for i, tokens in enumerate(messages):
        msg = bytes.fromhex(v["messages"][i]["ciphertext"])
        for t in tokens.split():
            if t == "e":
                h, msg = blake2b(h + msg[:32]), msg[32:]
            elif t == "s":
                n = 48 if has_key else 32
                h, msg = blake2b(h + msg[:n]), msg[n:]
            elif t in DH_TOKENS:
                has_key = True
        h = blake2b(h + msg)
    return h.hex()


def main():
    src, dst = sys.argv[1], sys.argv[2]
    doc = json.load(open(src))
    for v in doc["vectors"]:
        computed = handshake_hash(v)
        print(f"{v['protocol_name']}: input {'matches' if v['handshake_hash'] == computed else 'DIFFERS'}")
        v["handshake_hash"] = computed
    doc["source"] += "; handshake_hash recomputed by recompute_handshake_hash.py (see README.md)"
    with open(dst, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
