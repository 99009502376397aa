"""Per-run SSH keys."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from orchestrator.rootfs.keys import generate_run_key, load_run_key


def test_generate_writes_private_0600_and_public_line(tmp_path: Path) -> None:
    key = generate_run_key(tmp_path)
    assert key.private_path == tmp_path / "id_ed25519"
    assert stat.S_IMODE(key.private_path.stat().st_mode) == 0o600
    assert key.public_line.startswith("ssh-ed25519 AAAA")
    assert "\n" not in key.public_line
    assert (tmp_path / "id_ed25519.pub").read_text().strip() == key.public_line
    assert isinstance(key.key, paramiko.Ed25519Key)
    assert key.public_line.split()[1] == key.key.get_base64()
    assert b"ENCRYPTED" not in key.private_path.read_bytes()


def test_keys_differ_per_run_and_reload(tmp_path: Path) -> None:
    a = generate_run_key(tmp_path / "a")
    b = generate_run_key(tmp_path / "b")
    assert a.public_line != b.public_line
    again = load_run_key(a.private_path)
    assert again.fingerprint == a.fingerprint
    assert again.key.get_base64() == a.key.get_base64()
    # regenerating in the same dir replaces the key
    c = generate_run_key(tmp_path / "a")
    assert c.fingerprint != a.fingerprint


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = generate_run_key(tmp_path)
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(key.private_path)], capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[1] == key.fingerprint
