"""A fresh Ed25519 SSH key pair per run: no passwords anywhere, nothing reused between runs."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.errors import InfraError


@dataclass(frozen=True)
class RunKey:
    key: paramiko.Ed25519Key
    #: "ssh-ed25519 AAAA... comment", one line for authorized_keys
    public_line: str
    #: the private key file (0600, OpenSSH format) for ``ssh -i`` and the reproducer
    private_path: Path
    #: "SHA256:..." as ssh-keygen -l prints it
    fingerprint: str


def fingerprint_sha256(key_blob: bytes) -> str:
    """OpenSSH-style fingerprint of a public key blob."""
    digest = hashlib.sha256(key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def generate_run_key(
    run_dir: Path, *, name: str = "id_ed25519", comment: str = "pgo-orch"
) -> RunKey:
    """Make a new key pair; write ``run_dir/name`` (0600) and ``run_dir/name.pub``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    public_line = f"{public.decode()} {comment}".strip()
    path = run_dir / name
    try:
        if path.exists():
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        (run_dir / f"{name}.pub").write_text(public_line + "\n")
    except OSError as e:
        raise InfraError(f"cannot write SSH key to {path}: {e}", reason="ssh-key-write") from e
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    return RunKey(
        key=key,
        public_line=public_line,
        private_path=path,
        fingerprint=fingerprint_sha256(key.asbytes()),
    )


def load_run_key(private_path: Path) -> RunKey:
    """Load a key written by ``generate_run_key`` (for re-attaching to a running guest)."""
    try:
        key = paramiko.Ed25519Key.from_private_key_file(str(private_path))
    except (OSError, paramiko.SSHException) as e:
        raise InfraError(
            f"cannot load SSH key {private_path}: {e}", reason="ssh-key-unreadable"
        ) from e
    public_line = f"{key.get_name()} {key.get_base64()}"
    pub = private_path.with_name(private_path.name + ".pub")
    if pub.is_file():
        public_line = pub.read_text().strip()
    return RunKey(
        key=key,
        public_line=public_line,
        private_path=private_path,
        fingerprint=fingerprint_sha256(key.asbytes()),
    )


@dataclass(frozen=True)
class HostKey:
    """The guest's SSH host key for one run, made on the host so the client can pin it."""

    #: the key as the client compares it (public part; paramiko)
    key: paramiko.PKey
    #: the private key in dropbear's own file format, for the guest's overlay
    dropbear_blob: bytes
    #: "ssh-ed25519 AAAA..." (written to the run directory as ssh_host_ed25519_key.pub)
    public_line: str
    fingerprint: str


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def generate_host_key(run_dir: Path, *, name: str = "ssh_host_ed25519_key") -> HostKey:
    """A fresh Ed25519 host key; its public line goes to ``run_dir/<name>.pub``.

    dropbear's Ed25519 key file is SSH wire format: string "ssh-ed25519", then one string of
    the 32-byte private seed followed by the 32-byte public key."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pub_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    blob = _ssh_string(b"ssh-ed25519") + _ssh_string(seed + pub_raw)
    wire = _ssh_string(b"ssh-ed25519") + _ssh_string(pub_raw)
    key = paramiko.Ed25519Key(data=wire)
    public_line = f"ssh-ed25519 {base64.b64encode(wire).decode()}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / f"{name}.pub").write_text(public_line + "\n")
    except OSError as e:
        raise InfraError(f"cannot write the host key to {run_dir}: {e}",
                         reason="ssh-key-write") from e
    return HostKey(key=key, dropbear_blob=blob, public_line=public_line,
                   fingerprint=fingerprint_sha256(wire))
