"""Wallet interop with an independent implementation: ethers v6 from npm
(installed into tests/interop/node_modules by scripts/install-deps.sh).
Both directions: keystores and EIP-191 signatures."""
import json
import shutil
import subprocess

import pytest

from conftest import INTEROP



def ethers(*args):
    node = shutil.which("node")
    assert node, "node is required for the ethers interop tests (scripts/install-deps.sh installs it)"
    assert (INTEROP / "node_modules" / "ethers").is_dir(), "run scripts/install-deps.sh to install ethers"
    proc = subprocess.run([node, str(INTEROP / "ethers_tool.mjs"), *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def ethers_json(*args):
    return json.loads(ethers(*args))


MESSAGES = ["", "hello world", "CONET Layer Minus", "ünicode ✓ message", "x" * 1000]
BINARY_MESSAGES = ["0x00", "0x" + "ff" * 32, "0x" + bytes(range(256)).hex()]


def as_hex(text):
    return "0x" + text.encode().hex()


@pytest.fixture
def conet_wallet(conet, tmp_path, password_file):
    keystore = tmp_path / "conet.json"
    address = conet.run("wallet", "new", "--keystore", keystore, "--password-file", password_file,
                        "--light").stdout.strip()
    key_file = tmp_path / "key.txt"
    conet.run("wallet", "export", "--keystore", keystore, "--password-file", password_file,
              "--private-key-file", key_file)
    return {"keystore": keystore, "address": address, "private_key": key_file.read_text().strip()}


def test_a_conet_keystore_decrypts_in_ethers_to_the_same_address_and_key(conet_wallet, password_file):
    account = ethers_json("decrypt", conet_wallet["keystore"], password_file)
    assert account == {"address": conet_wallet["address"], "privateKey": conet_wallet["private_key"]}


def test_a_conet_keystore_with_standard_scrypt_decrypts_in_ethers(conet, tmp_path, password_file):
    keystore = tmp_path / "standard.json"
    address = conet.run("wallet", "new", "--keystore", keystore, "--password-file", password_file).stdout.strip()
    assert ethers_json("decrypt", keystore, password_file)["address"] == address


@pytest.mark.parametrize("scrypt_n", [1024, 131072])
def test_an_ethers_keystore_opens_in_conet(conet, tmp_path, password_file, ethereum_vectors, scrypt_n):
    private_key = ethereum_vectors["keys"][1]["private_key"]
    expected = ethereum_vectors["keys"][1]["address_checksummed"]
    keystore = tmp_path / "ethers.json"
    keystore.write_text(ethers("encrypt", private_key, password_file, scrypt_n))
    assert conet.json("wallet", "show", "--keystore", keystore, "--password-file", password_file) == {
        "address": expected}
    out = tmp_path / "exported.txt"
    conet.run("wallet", "export", "--keystore", keystore, "--password-file", password_file,
              "--private-key-file", out)
    assert out.read_text().strip() == private_key


def test_the_vector_keystores_written_by_ethers_open_in_conet(conet, tmp_path, ethereum_vectors):
    for i, case in enumerate(ethereum_vectors["keystores"]):
        keystore = tmp_path / f"v{i}.json"
        keystore.write_text(json.dumps(case["keystore"]))
        pw = tmp_path / f"pw{i}"
        pw.write_text(case["password"] + "\n")
        assert conet.json("wallet", "show", "--keystore", keystore, "--password-file", pw) == {
            "address": case["address"]}


@pytest.mark.parametrize("message_hex", [as_hex(m) for m in MESSAGES] + BINARY_MESSAGES)
def test_signatures_are_byte_identical_and_verify_both_ways(conet, conet_wallet, password_file, message_hex):
    ours = conet.json("wallet", "sign", "--keystore", conet_wallet["keystore"], "--password-file", password_file,
                      "--message-hex", message_hex)
    theirs = ethers_json("sign", conet_wallet["private_key"], message_hex)
    assert ours == theirs
    # ethers verifies conet's signature ...
    assert ethers_json("verify", message_hex, ours["signature"])["address"] == conet_wallet["address"]
    # ... and conet verifies ethers' signature.
    assert conet.json("wallet", "verify", "--message-hex", message_hex, "--signature", theirs["signature"],
                      "--address", conet_wallet["address"]) == {"address": conet_wallet["address"], "valid": True}
