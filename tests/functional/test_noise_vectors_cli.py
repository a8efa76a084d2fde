"""`conet debug noise-vectors` over cacophony files."""
import json

from conftest import DATA


def test_every_vector_in_the_repository_subset_passes(conet):
    out = conet.run("debug", "noise-vectors", DATA / "noise" / "cacophony-subset.json")
    assert out.stdout.strip().splitlines()[-1] == "4 passed, 0 failed, 0 skipped"


def test_the_uncorrected_shared_subset_fails_only_on_its_handshake_hashes(conet):
    out = conet.run("debug", "noise-vectors", DATA / "noise" / "cacophony-subset.original.json", check=False)
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "0 passed, 4 failed, 0 skipped"
    assert all("handshake hash differs" in line for line in lines[:-1])


def test_a_tampered_message_fails_and_unknown_protocols_are_skipped(conet, tmp_path):
    doc = json.loads((DATA / "noise" / "cacophony-subset.json").read_text())
    msg = doc["vectors"][2]["messages"][3]
    msg["ciphertext"] = ("0" if msg["ciphertext"][0] != "0" else "1") + msg["ciphertext"][1:]
    doc["vectors"].append(dict(doc["vectors"][0], protocol_name="Noise_NN_448_AESGCM_SHA512"))
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    out = conet.run("debug", "noise-vectors", path, check=False)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines()[-1] == "3 passed, 1 failed, 1 skipped"
    assert "Noise_XK_25519_ChaChaPoly_BLAKE2b" in out.stdout


def test_unreadable_or_invalid_files_are_errors(conet, tmp_path):
    out = conet.run("debug", "noise-vectors", tmp_path / "missing.json", check=False)
    assert out.returncode == 1 and "not found" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    out = conet.run("debug", "noise-vectors", bad, check=False)
    assert out.returncode == 1 and "not valid JSON" in out.stderr
