"""`conet wallet …` as a user runs it: keystores on disk, passwords, signatures, errors."""
import json
import os
import pty
import re
import stat

import pytest

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def new_wallet(conet, keystore, password_file):
    out = conet.run("wallet", "new", "--keystore", keystore, "--password-file", password_file, "--light")
    address = out.stdout.strip()
    assert ADDRESS.match(address), out.stdout
    return address


def test_new_writes_a_private_keystore_that_show_opens(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    address = new_wallet(conet, keystore, password_file)
    assert stat.S_IMODE(os.stat(keystore).st_mode) == 0o600
    doc = json.loads(keystore.read_text())
    assert doc["version"] == 3 and doc["crypto"]["kdf"] == "scrypt"
    shown = conet.json("wallet", "show", "--keystore", keystore, "--password-file", password_file)
    assert shown == {"address": address}


def test_new_never_overwrites_an_existing_keystore(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    new_wallet(conet, keystore, password_file)
    before = keystore.read_bytes()
    out = conet.run("wallet", "new", "--keystore", keystore, "--password-file", password_file, "--light", check=False)
    assert out.returncode != 0
    assert "already exists" in out.stderr
    assert keystore.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json", "password.txt"]


def test_default_scrypt_parameters_are_geths_standard(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    conet.run("wallet", "new", "--keystore", keystore, "--password-file", password_file)
    params = json.loads(keystore.read_text())["crypto"]["kdfparams"]
    assert (params["n"], params["r"], params["p"], params["dklen"]) == (262144, 8, 1, 32)


def test_import_then_sign_matches_the_ethers_vectors(conet, tmp_path, password_file, ethereum_vectors):
    for i, case in enumerate(ethereum_vectors["personal_sign"]):
        key_file = tmp_path / f"key{i}.txt"
        key_file.write_text(case["private_key"] + "\n")
        keystore = tmp_path / f"k{i}.json"
        out = conet.run("wallet", "import", "--private-key-file", key_file, "--keystore", keystore,
                        "--password-file", password_file, "--light")
        assert out.stdout.strip() == case["address"]
        signed = conet.json("wallet", "sign", "--keystore", keystore, "--password-file", password_file,
                            "--message-hex", case["message_hex"])
        assert signed == {"address": case["address"], "signature": case["signature"]}
        verified = conet.json("wallet", "verify", "--message-hex", case["message_hex"],
                              "--signature", case["signature"], "--address", case["address"])
        assert verified == {"address": case["address"], "valid": True}


def test_sign_text_and_hex_forms_agree(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    new_wallet(conet, keystore, password_file)
    a = conet.json("wallet", "sign", "--keystore", keystore, "--password-file", password_file, "--message", "hi ✓")
    b = conet.json("wallet", "sign", "--keystore", keystore, "--password-file", password_file,
                   "--message-hex", "0x" + "hi ✓".encode().hex())
    assert a == b


def test_verify_reports_a_different_signer_and_exits_non_zero(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    address = new_wallet(conet, keystore, password_file)
    sig = conet.json("wallet", "sign", "--keystore", keystore, "--password-file", password_file,
                     "--message", "hello")["signature"]
    other = "0x" + "11" * 20
    out = conet.run("wallet", "verify", "--message", "hello", "--signature", sig, "--address", other, "--json",
                    check=False)
    assert out.returncode == 1
    assert json.loads(out.stdout) == {"address": address, "valid": False}
    # A changed message recovers someone else.
    out = conet.run("wallet", "verify", "--message", "hellO", "--signature", sig, "--address", address, "--json",
                    check=False)
    assert out.returncode == 1
    assert json.loads(out.stdout)["valid"] is False


@pytest.mark.parametrize("signature,error", [
    ("0x1234", "malformed signature"),                                # too short
    ("0x" + "ab" * 64 + "1d", "malformed signature"),                 # v = 29
    ("0x" + "00" * 65, "no public key can be recovered"),             # r = s = 0
])
def test_verify_reports_a_malformed_signature_as_invalid_and_exits_1(conet, signature, error):
    out = conet.run("wallet", "verify", "--message", "x", "--signature", signature, "--json", check=False)
    assert out.returncode == 1, out.stderr  # an orderly "not valid", not a crash (signal) or usage error
    doc = json.loads(out.stdout)
    assert doc["address"] is None and doc["valid"] is False
    assert error in doc["error"]


def test_verify_refuses_a_signature_that_is_not_hex_as_a_usage_error(conet):
    out = conet.run("wallet", "verify", "--message", "x", "--signature", "zz", "--json", check=False)
    assert out.returncode == 2
    assert "--signature" in out.stderr and "not a hex digit" in out.stderr
    assert out.stdout == ""


def test_verify_rejects_a_bad_address_checksum(conet):
    out = conet.run("wallet", "verify", "--message", "x", "--signature", "0x" + "00" * 65,
                    "--address", "0xec8F09D48104a80F7Fc0BbF9269e326d4a5c7CE6", check=False)
    assert out.returncode == 2
    assert "EIP-55" in out.stderr


def test_wrong_password_is_a_clear_error(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    new_wallet(conet, keystore, password_file)
    before = keystore.read_bytes()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    out = conet.run("wallet", "show", "--keystore", keystore, "--password-file", wrong, check=False)
    assert out.returncode == 1
    assert "MAC mismatch" in out.stderr and "wrong password" in out.stderr
    assert keystore.read_bytes() == before


def test_tampered_keystore_is_a_mac_error(conet, tmp_path, password_file):
    keystore = tmp_path / "k.json"
    new_wallet(conet, keystore, password_file)
    doc = json.loads(keystore.read_text())
    doc["crypto"]["mac"] = ("0" if doc["crypto"]["mac"][0] != "0" else "1") + doc["crypto"]["mac"][1:]
    keystore.write_text(json.dumps(doc))
    out = conet.run("wallet", "sign", "--keystore", keystore, "--password-file", password_file, "--message", "x",
                    check=False)
    assert out.returncode == 1
    assert "MAC mismatch" in out.stderr


@pytest.mark.parametrize("content", ["", "{", "[]", '{"version": 3}', '{"version": 3, "crypto": 5}', "\x00\xff"])
def test_malformed_keystore_is_a_clear_error(conet, tmp_path, password_file, content):
    keystore = tmp_path / "bad.json"
    keystore.write_text(content)
    out = conet.run("wallet", "show", "--keystore", keystore, "--password-file", password_file, check=False)
    assert out.returncode == 1
    assert "malformed keystore" in out.stderr


def test_missing_files_are_clear_errors(conet, tmp_path, password_file):
    out = conet.run("wallet", "show", "--keystore", tmp_path / "absent.json", "--password-file", password_file,
                    check=False)
    assert out.returncode == 1 and "not found" in out.stderr
    keystore = tmp_path / "k.json"
    new_wallet(conet, keystore, password_file)
    out = conet.run("wallet", "show", "--keystore", keystore, "--password-file", tmp_path / "nope", check=False)
    assert out.returncode == 1 and "password file" in out.stderr


def test_without_a_terminal_or_password_file_it_refuses(conet, tmp_path):
    out = conet.run("wallet", "new", "--keystore", tmp_path / "k.json", "--light", check=False)
    assert out.returncode == 1
    assert "--password-file" in out.stderr
    assert not (tmp_path / "k.json").exists()


def test_import_rejects_bad_private_keys(conet, tmp_path, password_file):
    for content in ["xyz", "00" * 32, "ff" * 32, "12" * 31]:
        key_file = tmp_path / "key.txt"
        key_file.write_text(content)
        out = conet.run("wallet", "import", "--private-key-file", key_file, "--keystore", tmp_path / "k.json",
                        "--password-file", password_file, "--light", check=False)
        assert out.returncode == 2, content
        assert not (tmp_path / "k.json").exists()


def test_export_writes_the_key_privately_and_never_overwrites(conet, tmp_path, password_file, ethereum_vectors):
    case = ethereum_vectors["keys"][0]
    key_file = tmp_path / "in.txt"
    key_file.write_text(case["private_key"])
    keystore = tmp_path / "k.json"
    conet.run("wallet", "import", "--private-key-file", key_file, "--keystore", keystore,
              "--password-file", password_file, "--light")
    out_file = tmp_path / "out.txt"
    conet.run("wallet", "export", "--keystore", keystore, "--password-file", password_file,
              "--private-key-file", out_file)
    assert out_file.read_text().strip() == case["private_key"]
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600
    again = conet.run("wallet", "export", "--keystore", keystore, "--password-file", password_file,
                      "--private-key-file", out_file, check=False)
    assert again.returncode == 1


def test_password_prompt_on_a_terminal_does_not_echo(conet, tmp_path):
    keystore = tmp_path / "k.json"
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(conet.binary), [str(conet.binary), "wallet", "new", "--keystore", str(keystore), "--light"])
    transcript = b""

    def read_until(marker):
        nonlocal transcript
        while marker not in transcript:
            chunk = os.read(fd, 1024)
            if not chunk:
                raise AssertionError(f"EOF before {marker!r}: {transcript!r}")
            transcript += chunk

    read_until(b"password: ")
    os.write(fd, b"s3cret-pass\n")
    read_until(b"Repeat password: ")
    os.write(fd, b"s3cret-pass\n")
    try:
        while True:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            transcript += chunk
    except OSError:
        pass  # EIO once the child has exited
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert b"s3cret-pass" not in transcript
    assert re.search(rb"0x[0-9a-fA-F]{40}", transcript)
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pass\n")
    conet.run("wallet", "show", "--keystore", keystore, "--password-file", pw)


@pytest.mark.parametrize("args", [["--help"], ["wallet", "--help"], ["wallet", "new", "--help"],
                                  ["wallet", "import", "--help"], ["wallet", "show", "--help"],
                                  ["wallet", "export", "--help"], ["wallet", "sign", "--help"],
                                  ["wallet", "verify", "--help"], ["debug", "noise-vectors", "--help"]])
def test_every_command_has_help(conet, args):
    out = conet.run(*args)
    assert "Usage" in out.stdout or "usage" in out.stdout.lower()


def test_usage_errors_exit_2(conet):
    assert conet.run("wallet", check=False).returncode == 2
    assert conet.run("wallet", "sign", "--message", "x", check=False).returncode == 2
    assert conet.run("no-such-command", check=False).returncode == 2
    out = conet.run("wallet", "verify", "--message", "a", "--message-hex", "00", "--signature", "00", check=False)
    assert out.returncode == 2
