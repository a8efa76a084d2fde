"""The layer checker (scripts/check-layers.py) passes on the tree and catches a violation."""
import shutil
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "check-layers.py"


def run(root):
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True)


def test_the_repository_respects_the_layers():
    out = run(REPO)
    assert out.returncode == 0, out.stderr


def test_an_upward_include_is_reported(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src")
    victim = tmp_path / "src" / "conet" / "util" / "hex.cpp"
    victim.write_text('#include "conet/crypto/keys.hpp"\n' + victim.read_text())
    out = run(tmp_path)
    assert out.returncode == 1
    assert "'util' (layer 0) may not include 'crypto'" in out.stderr


def test_a_sibling_include_is_reported(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src")
    victim = tmp_path / "src" / "conet" / "codec" / "codec.cpp"
    victim.write_text('#include "conet/crypto/keys.hpp"\n' + victim.read_text())
    assert run(tmp_path).returncode == 1
