"""SshSession against a real dropbear on 127.0.0.1, and against misbehaving fake servers.

Dropbear has no option for an authorized_keys path: it reads ~root/.ssh. The fixture starts it
in a private mount namespace (unshare --mount) with a temporary directory bind-mounted over
/root, so the host's /root is never touched. That needs root (or CAP_SYS_ADMIN); otherwise the
dropbear tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.common import AUTH_FAILED

from orchestrator.errors import InfraError
from orchestrator.rootfs.keys import RunKey, generate_run_key
from orchestrator.vm.ssh import (
    SshAuthFailed,
    SshAuthTimeout,
    SshBannerTimeout,
    SshConnectError,
    SshDisconnected,
    SshHandshakeTimeout,
    SshSession,
    SshTransferError,
)

DROPBEAR = Path("/usr/sbin/dropbear")
DROPBEARKEY = Path("/usr/bin/dropbearkey")
FAST: dict[str, Any] = {"connect_timeout": 3.0, "banner_timeout": 3.0, "auth_timeout": 5.0}


def generate_run_key_in_memory() -> paramiko.PKey:
    """A throwaway key for servers that never get as far as authentication."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _why_no_dropbear() -> str | None:
    if not DROPBEAR.exists() or not DROPBEARKEY.exists():
        return "dropbear not installed (apt-get install dropbear-bin)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    if probe.returncode != 0:
        return "cannot create a private mount namespace (needs root): " + probe.stderr.decode()
    return None


@dataclass
class Server:
    host: str
    port: int
    key: RunKey
    host_fingerprint: str
    workdir: Path
    log: Path


@pytest.fixture(scope="module")
def dropbear(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = _why_no_dropbear()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("dropbear")
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    home.chmod(0o700)
    (home / ".ssh").chmod(0o700)
    key = generate_run_key(base)
    auth = home / ".ssh" / "authorized_keys"
    auth.write_text(key.public_line + "\n")
    auth.chmod(0o600)
    hostkey = base / "hostkey"
    out = subprocess.run(
        [str(DROPBEARKEY), "-t", "ed25519", "-f", str(hostkey)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fingerprint = next(
        line.split()[1] for line in out.splitlines() if line.startswith("Fingerprint:")
    )
    port = free_port()
    log = base / "dropbear.log"
    script = 'mount --bind "$1" /root && exec "$2" -F -E -s -p "$3" -r "$4" -P "$5"'
    with log.open("wb") as log_f:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
             str(home), str(DROPBEAR), f"127.0.0.1:{port}", str(hostkey), str(base / "pid")],
            stdout=log_f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dropbear did not start: {log.read_text()}")
                time.sleep(0.05)
        yield Server("127.0.0.1", port, key, fingerprint, base, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def session(dropbear: Server) -> Iterator[SshSession]:
    with SshSession.connect(dropbear.host, dropbear.port, dropbear.key.key, **FAST) as s:
        yield s


# --- against dropbear -----------------------------------------------------------------------


def test_connect_records_host_key(dropbear: Server) -> None:
    with SshSession.connect(dropbear.host, dropbear.port, dropbear.key.key, **FAST) as s:
        assert s.is_active()
        assert s.host_key_type == "ssh-ed25519"
        assert s.host_key_fingerprint == dropbear.host_fingerprint
        assert "dropbear" in s.server_version
        assert s.attempts == 1
        assert s.connect_duration < 2.0
    assert not s.is_active()


def test_exit_status_and_streamed_output(session: SshSession) -> None:
    events: list[tuple[str, bytes, float]] = []
    start = time.monotonic()
    res = session.run(
        ["sh", "-c", "echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three; exit 7"],
        timeout=10,
        on_stdout=lambda b: events.append(("out", b, time.monotonic() - start)),
        on_stderr=lambda b: events.append(("err", b, time.monotonic() - start)),
    )
    assert res.exit_status == 7 and not res.timed_out and not res.ok
    assert res.stdout == b"one\nthree\n"
    assert res.stderr == b"two\n"
    assert res.argv[0] == "sh"
    # the first line arrived while the command was still running
    first = events[0]
    assert first[0] == "out" and first[1] == b"one\n"
    assert first[2] < res.duration - 0.7, events
    assert 1.0 <= res.duration < 5.0


def test_argv_is_quoted_not_interpreted(session: SshSession, tmp_path: Path) -> None:
    marker = tmp_path / "should-not-exist"
    res = session.run(["echo", f"$(touch {marker})", ";", "`id`", "a b"], timeout=10)
    assert res.ok
    assert res.stdout == f"$(touch {marker}) ; `id` a b\n".encode()
    assert not marker.exists()


def test_run_script_uses_stdin(session: SshSession) -> None:
    res = session.run_script(
        'set -e\necho "first=$1"\necho "second=$2"\nexit 3\n', args=["a b", "it's"], timeout=10
    )
    assert res.exit_status == 3
    assert res.stdout == b"first=a b\nsecond=it's\n"


def test_stdin_large(session: SshSession) -> None:
    data = os.urandom(3 * 1024 * 1024)
    res = session.run(["cat"], stdin=data, timeout=30)
    assert res.ok and res.stdout == data


def test_timeout_kills_and_session_stays_usable(session: SshSession) -> None:
    start = time.monotonic()
    res = session.run(["sleep", "30.25"], timeout=1)
    elapsed = time.monotonic() - start
    assert res.timed_out and res.exit_status is None and not res.ok
    assert 1.0 <= res.duration < 1.5
    assert elapsed < 1.5, f"returned after {elapsed:.2f}s"
    # the remote sleep got SIGKILL, and the next channel is not affected
    # ("30[.]25" so the pattern does not match this very command line)
    after = session.run(["sh", "-c", "pgrep -f 'sleep 30[.]25' || true; echo ok"], timeout=10)
    assert after.stdout.endswith(b"ok\n")
    assert after.stdout == b"ok\n", "remote process survived the timeout"


def test_put_get_binary(session: SshSession, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 4096 + os.urandom(12345))
    remote = str(tmp_path / "remote dir with space" / "file.bin")
    Path(remote).parent.mkdir()
    assert session.put(src, remote, mode=0o640) == src.stat().st_size
    assert Path(remote).read_bytes() == src.read_bytes()
    assert Path(remote).stat().st_mode & 0o777 == 0o640
    back = tmp_path / "back.bin"
    assert session.get(remote, back) == src.stat().st_size
    assert back.read_bytes() == src.read_bytes()


def test_get_missing_file_fails_cleanly(session: SshSession, tmp_path: Path) -> None:
    dest = tmp_path / "never"
    with pytest.raises(SshTransferError) as info:
        session.get("/nonexistent/pgo-orch-file", dest)
    assert info.value.reason == "ssh-transfer-failed"
    assert "nonexistent" in info.value.message
    assert not dest.exists() and not (tmp_path / "never.part").exists()


def test_put_to_unwritable_path_fails(session: SshSession, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(SshTransferError):
        session.put(src, "/nonexistent-dir/f")


def test_wrong_key_is_auth_failure(dropbear: Server, tmp_path: Path) -> None:
    other = generate_run_key(tmp_path)
    with pytest.raises(SshAuthFailed) as info:
        SshSession.connect(dropbear.host, dropbear.port, other.key, **FAST)
    assert info.value.reason == "ssh-auth-failed"
    assert isinstance(info.value, InfraError)


def test_interactive_shell_over_a_pty(dropbear: Server) -> None:
    master, slave = os.openpty()
    result: list[int | None] = []
    with SshSession.connect(dropbear.host, dropbear.port, dropbear.key.key, **FAST) as s:
        worker = threading.Thread(
            target=lambda: result.append(s.interactive_shell(stdin_fd=slave, stdout_fd=slave))
        )
        worker.start()
        os.write(master, b"echo hi-$((40+2)); exit 5\n")
        seen = b""
        deadline = time.monotonic() + 10
        while worker.is_alive() and time.monotonic() < deadline:
            try:
                if select.select([master], [], [], 0.2)[0]:
                    seen += os.read(master, 4096)
            except OSError:
                break
        worker.join(5)
    os.close(master)
    os.close(slave)
    assert b"hi-42" in seen
    assert result == [5]


def test_disconnect_during_command(dropbear: Server) -> None:
    with SshSession.connect(dropbear.host, dropbear.port, dropbear.key.key, **FAST) as s:
        # kill the dropbear process serving this connection (the nearest dropbear ancestor)
        script = (
            'p=$$; while [ "$(cat /proc/$p/comm)" != dropbear ]; do '
            "p=$(cut -d' ' -f4 /proc/$p/stat); done; echo before; sleep 0.5; kill -9 $p; sleep 5"
        )
        with pytest.raises(SshDisconnected) as info:
            s.run(["sh", "-c", script], timeout=10)
        assert info.value.partial.stdout.startswith(b"before")
        assert info.value.reason == "ssh-disconnected"


def test_retry_until_survives_a_booting_guest(dropbear: Server) -> None:
    """Like QEMU user networking before the guest is up: TCP accepted, then closed at once."""
    port = free_port()
    ready_at = time.monotonic() + 1.5
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.1)

    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if time.monotonic() < ready_at:
                conn.close()
                continue
            upstream = socket.create_connection((dropbear.host, dropbear.port))
            threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    failures: list[str] = []
    try:
        with SshSession.connect(
            "127.0.0.1",
            port,
            dropbear.key.key,
            retry_until=time.time() + 15,
            retry_interval=0.2,
            on_attempt_failed=lambda e: failures.append(e.reason),
            **FAST,
        ) as s:
            assert s.attempts > 1
            assert s.run(["echo", "up"], timeout=10).stdout == b"up\n"
        assert set(failures) == {"ssh-closed-before-banner"}
    finally:
        stop.set()
        thread.join(2)
        listener.close()


# --- misbehaving servers ---------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts TCP and never says anything."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conns.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], conns
    stop.set()
    thread.join(2)
    for c in conns:
        c.close()
    listener.close()


def test_banner_timeout_on_silent_server(silent_server: tuple[int, list[socket.socket]]) -> None:
    port, conns = silent_server
    key = generate_run_key_in_memory()
    start = time.monotonic()
    with pytest.raises(SshBannerTimeout) as info:
        SshSession.connect(
            "127.0.0.1", port, key, connect_timeout=2, banner_timeout=1.0, auth_timeout=2
        )
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 1.5
    assert info.value.reason == "ssh-banner-timeout"
    assert conns, "the TCP connection was accepted"


def test_handshake_timeout_after_banner() -> None:
    """Sends a banner, then stalls: the banner phase passes, the key exchange times out."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"SSH-2.0-stall_1.0\r\n")
        held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(SshHandshakeTimeout) as info:
        SshSession.connect(
            "127.0.0.1",
            listener.getsockname()[1],
            generate_run_key_in_memory(),
            connect_timeout=2,
            banner_timeout=1.0,
            handshake_timeout=1.0,
            auth_timeout=2,
        )
    assert time.monotonic() - start < 3.0
    assert info.value.reason == "ssh-handshake-timeout"
    for c in held:
        c.close()
    listener.close()


class _StallingAuth(paramiko.ServerInterface):
    """A real SSH server (paramiko) whose public-key check never answers in time."""

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        time.sleep(3)
        return AUTH_FAILED


def test_auth_timeout_when_server_stalls_in_authentication() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        conn, _ = listener.accept()
        t = paramiko.Transport(conn)
        t.add_server_key(generate_run_key_in_memory())
        transports.append(t)
        t.start_server(server=_StallingAuth())

    threading.Thread(target=serve, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(SshAuthTimeout) as info:
        SshSession.connect(
            "127.0.0.1",
            listener.getsockname()[1],
            generate_run_key_in_memory(),
            connect_timeout=2,
            banner_timeout=2,
            auth_timeout=1.0,
        )
    assert 1.0 <= time.monotonic() - start < 2.0
    assert info.value.reason == "ssh-auth-timeout"
    for t in transports:
        t.close()
    listener.close()


def test_connection_refused_retries_until_deadline() -> None:
    port = free_port()  # nothing listens here
    key = generate_run_key_in_memory()
    with pytest.raises(SshConnectError) as quick:
        SshSession.connect("127.0.0.1", port, key, **FAST)
    assert quick.value.attempts == 1
    assert quick.value.reason == "ssh-connect-failed"

    start = time.monotonic()
    deadline = time.time() + 1.5
    with pytest.raises(SshConnectError) as info:
        SshSession.connect("127.0.0.1", port, key, retry_until=deadline, retry_interval=0.2, **FAST)
    elapsed = time.monotonic() - start
    assert time.time() >= deadline
    assert 1.5 <= elapsed < 2.0
    assert info.value.attempts > 3
    assert "attempts" in info.value.message


def test_closed_before_banner_is_reported() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(SshConnectError) as info:
        SshSession.connect("127.0.0.1", listener.getsockname()[1], generate_run_key_in_memory(),
                           **FAST)  # fmt: skip
    assert info.value.reason == "ssh-closed-before-banner"
    listener.close()
