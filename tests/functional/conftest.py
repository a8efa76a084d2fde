"""Shared fixtures for the functional tests: they run the real `conet` binary."""
import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
INTEROP = REPO / "tests" / "interop"


def conet_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("CONET_BIN", REPO / "build" / "release" / "conet"))
    if not path.exists():
        pytest.exit(f"conet binary not found at {path}: build it first (cmake --preset release)", returncode=2)
    return path


class Conet:
    """Runs the binary with no terminal, so a missing password file is an error, not a prompt."""

    def __init__(self, binary):
        self.binary = binary

    def run(self, *args, check=True, timeout=120):
        proc = subprocess.run([str(self.binary), *map(str, args)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, start_new_session=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"conet {' '.join(map(str, args))} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture(scope="session")
def conet():
    return Conet(conet_binary())


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password.txt"
    path.write_text("correct horse battery staple\n")
    return path


@pytest.fixture(scope="session")
def ethereum_vectors():
    return json.loads((DATA / "ethereum" / "vectors.json").read_text())


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "once: behaviour that does not depend on the build type (protocol rules, client deadlines); "
        "scripts/test.sh runs it on the debug (ASan + UBSan) binary only, to keep CI in its time budget")
