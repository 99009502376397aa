"""SSH faults a stuck or hostile guest can cause (issue 9 items 2, 6, 22), on a fake server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import paramiko
import pytest

from orchestrator.vm.ssh import SshHostKeyMismatch, SshSession, host_key_fingerprint
from tests.vm.fake_ssh import FakeSshServer
from tests.vm.test_ssh import generate_run_key_in_memory

FAST = {"connect_timeout": 3.0, "banner_timeout": 3.0, "auth_timeout": 5.0}


@pytest.fixture
def host_key() -> paramiko.PKey:
    return generate_run_key_in_memory()


def _connect(server: FakeSshServer, host_key: paramiko.PKey | None) -> SshSession:
    return SshSession.connect("127.0.0.1", server.port, generate_run_key_in_memory(),
                              host_key=host_key, **FAST)


@pytest.fixture
def stuck_exec(host_key: paramiko.PKey) -> Iterator[FakeSshServer]:
    server = FakeSshServer(host_key, block_exec=True)
    yield server
    server.close()


def test_exec_never_answered_returns_at_the_deadline(stuck_exec: FakeSshServer,
                                                     host_key: paramiko.PKey) -> None:
    """Item 2: a guest stuck in fork/exec never answers the exec request."""
    session = _connect(stuck_exec, host_key)
    try:
        start = time.monotonic()
        res = session.run(["true"], timeout=3)
        elapsed = time.monotonic() - start
    finally:
        session.close()
    assert res.timed_out and res.exit_status is None
    assert 2.9 <= elapsed < 4.0, elapsed


def _flood(chan: paramiko.Channel, command: str) -> None:
    block = b"x" * 65536
    try:
        while not chan.closed:
            chan.sendall(block)
    except Exception:  # noqa: BLE001 - the client closed the channel: done
        pass


def test_fast_producer_is_cut_at_the_deadline_and_capped(host_key: paramiko.PKey) -> None:
    """Item 6: the deadline holds while data flows, and only the tail is kept."""
    server = FakeSshServer(host_key, exec_handler=_flood)
    session = _connect(server, host_key)
    seen = 0

    def count(chunk: bytes) -> None:
        nonlocal seen
        seen += len(chunk)

    try:
        start = time.monotonic()
        res = session.run(["yes"], timeout=2, on_stdout=count, max_output=1 << 20)
        elapsed = time.monotonic() - start
    finally:
        session.close()
        server.close()
    assert res.timed_out
    assert elapsed < 2.0 + 2.5, elapsed  # the deadline, plus the kill grace at most
    assert len(res.stdout) <= 1 << 20
    assert seen > 1 << 20, "the producer was not fast enough to test the cap"
    assert res.stdout_cut == seen - len(res.stdout)
    assert f"{res.stdout_cut} bytes" in res.text(), "the result says how much was cut"


def test_pinned_host_key_accepts_the_right_key_only(host_key: paramiko.PKey) -> None:
    """Item 22: the guest's host key is known in advance; any other key is refused."""
    server = FakeSshServer(host_key)
    try:
        ok = _connect(server, host_key)
        assert ok.host_key_fingerprint == host_key_fingerprint(host_key)
        ok.close()
        with pytest.raises(SshHostKeyMismatch) as info:
            _connect(server, generate_run_key_in_memory())
        assert info.value.reason == "ssh-host-key-mismatch"
        assert host_key_fingerprint(host_key) in info.value.message
    finally:
        server.close()


def test_keepalive_while_a_command_is_silent(host_key: paramiko.PKey) -> None:
    """Item 2: the session sends keepalives, so a dead peer shows up on the transport."""

    def silent(chan: paramiko.Channel, command: str) -> None:
        time.sleep(2.5)
        chan.send_exit_status(0)
        chan.close()

    server = FakeSshServer(host_key, exec_handler=silent)
    session = SshSession.connect("127.0.0.1", server.port, generate_run_key_in_memory(),
                                 host_key=host_key, keepalive=1.0, **FAST)
    try:
        res = session.run(["sleep", "2"], timeout=10)
    finally:
        session.close()
        server.close()
    assert res.exit_status == 0
    assert len(server.global_requests) >= 2, server.global_requests


def test_dropbear_serves_the_host_key_made_on_the_host(tmp_path: object) -> None:
    """Item 22, guest side: dropbear accepts the key file pgo-orch writes into the overlay,
    and the pinned connect gets past the host key check (to authentication) only with it."""
    import shutil
    import socket
    import subprocess
    from pathlib import Path

    from orchestrator.rootfs.keys import generate_host_key
    from orchestrator.vm.ssh import SshAuthFailed

    if shutil.which("dropbear") is None and not Path("/usr/sbin/dropbear").exists():
        pytest.skip("dropbear not installed")
    assert isinstance(tmp_path, Path)
    hk = generate_host_key(tmp_path)
    keyfile = tmp_path / "hostkey"
    keyfile.write_bytes(hk.dropbear_blob)
    keyfile.chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["/usr/sbin/dropbear", "-F", "-E", "-s", "-r", str(keyfile),
                             "-p", f"127.0.0.1:{port}", "-P", str(tmp_path / "pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        kw = dict(FAST, retry_until=None)
        with pytest.raises(SshAuthFailed):  # host key accepted; our random key is not
            SshSession.connect("127.0.0.1", port, generate_run_key_in_memory(),
                               host_key=hk.key, **kw)
        with pytest.raises(SshHostKeyMismatch):
            SshSession.connect("127.0.0.1", port, generate_run_key_in_memory(),
                               host_key=generate_run_key_in_memory(), **kw)
        assert (tmp_path / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 ")
    finally:
        proc.terminate()
        proc.wait(5)
