"""SSH to the guest: paramiko's Transport driven phase by phase, with a deadline for each phase.

Phases of ``SshSession.connect``: TCP connect (``connect_timeout``), first banner byte and the
banner line (``banner_timeout``), key exchange (``handshake_timeout``, default: the banner
timeout), public-key authentication (``auth_timeout``). Each has its own exception and reason
string, all subclasses of InfraError, so a report can say *where* it stalled: an sshd can
accept TCP and then never speak, and QEMU's user networking accepts TCP on the host side even
before the guest is up.

The guest makes a new host key every boot, so any host key is accepted; its fingerprint is kept
on the session (``host_key_fingerprint``) for the run record.

Commands: argv is joined with ``shlex.join``; trusted scenario text goes through
``run_script`` (stdin to ``sh -s``), never interpolated. Dropbear has no SFTP server, so
``put``/``get`` stream through ``cat`` on exec channels.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import select
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, cast

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from orchestrator.errors import InfraError

OutputCallback = Callable[[bytes], None]

_CHUNK = 32768
#: after a timeout, how long to wait for the server to confirm the killed command is gone
_KILL_GRACE = 2.0

# --- errors ----------------------------------------------------------------------------------


class SshError(InfraError):
    """Base for SSH failures; ``reason`` says which phase failed."""

    default_reason = "ssh-error"
    #: whether ``connect(retry_until=...)`` tries again after this error
    retryable = False

    def __init__(
        self, message: str, *, host: str = "", port: int = 0, reason: str | None = None
    ) -> None:
        where = f"{host}:{port}: " if host else ""
        super().__init__(where + message, reason=reason or self.default_reason)
        self.host = host
        self.port = port
        self.attempts = 1


class SshConnectError(SshError):
    """TCP connect refused/reset/unreachable, or closed before the server said anything."""

    default_reason = "ssh-connect-failed"
    retryable = True


class SshConnectTimeout(SshError):
    default_reason = "ssh-connect-timeout"
    retryable = True


class SshBannerTimeout(SshError):
    """TCP is up but no SSH banner came in time (a stalled sshd, or a guest still booting)."""

    default_reason = "ssh-banner-timeout"
    retryable = True


class SshProtocolError(SshError):
    """The peer sent something that is not an SSH-2 banner."""

    default_reason = "ssh-protocol-error"


class SshHandshakeTimeout(SshError):
    default_reason = "ssh-handshake-timeout"


class SshHandshakeFailed(SshError):
    default_reason = "ssh-handshake-failed"


class SshAuthTimeout(SshError):
    default_reason = "ssh-auth-timeout"


class SshAuthFailed(SshError):
    default_reason = "ssh-auth-failed"


class SshChannelError(SshError):
    """A session channel could not be opened or a request on it was refused."""

    default_reason = "ssh-channel-failed"


class SshDisconnected(SshError):
    """The connection died while a command ran (the guest may have crashed).

    ``partial`` holds what the command printed before that."""

    default_reason = "ssh-disconnected"

    def __init__(self, message: str, *, partial: CommandResult, host: str = "", port: int = 0):
        super().__init__(message, host=host, port=port)
        self.partial = partial


class SshTransferError(SshError):
    default_reason = "ssh-transfer-failed"


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    #: None if the command timed out, or ended without an exit status (killed by a signal)
    exit_status: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    #: seconds from opening the channel to the end
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    def text(self) -> str:
        return self.stdout.decode(errors="replace")


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """ "SHA256:..." as OpenSSH prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


# --- connection phases -----------------------------------------------------------------------


def _tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as e:
        raise SshConnectTimeout(
            f"TCP connect timed out after {timeout:.1f}s", host=host, port=port
        ) from e
    except OSError as e:
        what = errno.errorcode.get(e.errno or 0, "") or type(e).__name__
        raise SshConnectError(
            f"TCP connect failed: {e.strerror or e} ({what})", host=host, port=port
        ) from e
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _await_first_byte(sock: socket.socket, host: str, port: int, timeout: float) -> None:
    """Wait until the server sends something; tell a silent server from a closed connection."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SshBannerTimeout(
                f"connected, but no SSH banner within {timeout:.1f}s", host=host, port=port
            )
        readable, _, _ = select.select([sock], [], [], remaining)
        if not readable:
            continue
        try:
            peek = sock.recv(1, socket.MSG_PEEK)
        except OSError as e:
            raise SshConnectError(
                f"connection reset before the SSH banner: {e}",
                host=host,
                port=port,
                reason="ssh-closed-before-banner",
            ) from e
        if not peek:
            raise SshConnectError(
                "connection closed before the SSH banner (sshd not listening yet?)",
                host=host,
                port=port,
                reason="ssh-closed-before-banner",
            )
        return


def _cause_chain(e: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


def _handshake(
    sock: socket.socket,
    host: str,
    port: int,
    banner_timeout: float,
    handshake_timeout: float,
    auth_timeout: float,
) -> paramiko.Transport:
    """Banner line and key exchange on a connected socket that already has data waiting."""
    transport = paramiko.Transport(sock)
    # paramiko's own limits sit behind ours, so the deadlines below decide and classify
    transport.banner_timeout = banner_timeout + 1.0
    transport.handshake_timeout = banner_timeout + handshake_timeout + 1.0
    transport.auth_timeout = auth_timeout
    done = threading.Event()
    start = time.monotonic()
    banner_at: float | None = None
    transport.start_client(event=done)
    try:
        while True:
            done.wait(0.02)
            now = time.monotonic()
            if banner_at is None and transport.remote_version:
                banner_at = now
            if not transport.is_active():
                raise _classify_handshake_failure(transport, host, port, banner_timeout)
            if done.is_set():
                return transport
            if banner_at is None and now - start > banner_timeout:
                raise SshBannerTimeout(
                    f"no complete SSH banner within {banner_timeout:.1f}s", host=host, port=port
                )
            if banner_at is not None and now - banner_at > handshake_timeout:
                raise SshHandshakeTimeout(
                    f"key exchange not finished within {handshake_timeout:.1f}s "
                    f"(server {transport.remote_version})",
                    host=host,
                    port=port,
                )
    except BaseException:
        transport.close()
        raise


def _classify_handshake_failure(
    transport: paramiko.Transport, host: str, port: int, banner_timeout: float
) -> SshError:
    exc = transport.get_exception()
    chain = _cause_chain(exc)
    detail = str(exc) if exc else "transport closed"
    if not transport.remote_version:
        if any(isinstance(c, TimeoutError) for c in chain):
            return SshBannerTimeout(
                f"no complete SSH banner within {banner_timeout:.1f}s", host=host, port=port
            )
        if any(isinstance(c, EOFError | ConnectionError) for c in chain) or exc is None:
            return SshConnectError(
                f"connection closed while reading the SSH banner ({detail})",
                host=host,
                port=port,
                reason="ssh-closed-before-banner",
            )
        return SshProtocolError(f"bad SSH banner: {detail}", host=host, port=port)
    if any(isinstance(c, TimeoutError) for c in chain):
        return SshHandshakeTimeout(f"key exchange timed out: {detail}", host=host, port=port)
    return SshHandshakeFailed(
        f"key exchange with {transport.remote_version} failed: {detail}", host=host, port=port
    )


def _authenticate(
    transport: paramiko.Transport, user: str, key: paramiko.PKey, host: str, port: int
) -> None:
    try:
        remaining = transport.auth_publickey(user, key)
    except paramiko.BadAuthenticationType as e:
        raise SshAuthFailed(
            f"server does not allow public-key login for {user} (allowed: {e.allowed_types})",
            host=host,
            port=port,
        ) from e
    except paramiko.AuthenticationException as e:
        if "timeout" in str(e).lower():
            raise SshAuthTimeout(
                f"no answer to public-key authentication within {transport.auth_timeout:.1f}s",
                host=host,
                port=port,
            ) from e
        raise SshAuthFailed(
            f"public-key authentication as {user} rejected: {e}", host=host, port=port
        ) from e
    except paramiko.SSHException as e:
        raise SshAuthFailed(f"authentication as {user} failed: {e}", host=host, port=port) from e
    if remaining or not transport.is_authenticated():
        raise SshAuthFailed(
            f"server wants more authentication for {user}: {remaining}", host=host, port=port
        )


# --- the session -----------------------------------------------------------------------------


class SshSession:
    """An authenticated SSH connection to a guest. Use ``SshSession.connect``."""

    def __init__(self, transport: paramiko.Transport, host: str, port: int, user: str) -> None:
        self._transport = transport
        self.host = host
        self.port = port
        self.user = user
        server_key = transport.get_remote_server_key()
        self.host_key_type: str = server_key.get_name()
        self.host_key_fingerprint: str = host_key_fingerprint(server_key)
        self.server_version: str = transport.remote_version
        #: connection attempts it took, and seconds from the first attempt to authenticated
        self.attempts = 1
        self.connect_duration = 0.0

    # -- connecting

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        key: paramiko.PKey,
        *,
        connect_timeout: float,
        banner_timeout: float,
        auth_timeout: float,
        user: str = "root",
        retry_until: float | None = None,
        handshake_timeout: float | None = None,
        retry_interval: float = 0.5,
        on_attempt_failed: Callable[[SshError], None] | None = None,
    ) -> SshSession:
        """Connect and authenticate with ``key``.

        ``retry_until`` (a ``time.time()`` wall-clock deadline) retries connection refused,
        reset, closed-before-banner and connect/banner timeouts (a guest still booting) until
        then; a new attempt starts only before the deadline. While retrying, the wait for the
        server's first byte grows 1s, 2s, 4s... up to ``banner_timeout`` (QEMU's user
        networking holds a connection open while the guest is not listening yet); the other
        phases get their full timeouts. Protocol, handshake and authentication errors are never
        retried. The error raised carries ``attempts``.
        """
        hs_timeout = banner_timeout if handshake_timeout is None else handshake_timeout
        start = time.monotonic()
        attempts = 0
        silent = 0  # attempts that got TCP but no first byte
        while True:
            attempts += 1
            # QEMU user networking accepts TCP before the guest listens and then only
            # re-sends its SYN to the guest with back-off; a fresh connection is quicker.
            # So while retrying, wait 1s, 2s, 4s... for the first byte, up to banner_timeout.
            first_byte = banner_timeout
            if retry_until is not None:
                first_byte = min(banner_timeout, 2.0**silent)
            try:
                sock = _tcp_connect(host, port, connect_timeout)
                try:
                    _await_first_byte(sock, host, port, first_byte)
                    sock.settimeout(None)
                    transport = _handshake(
                        sock, host, port, banner_timeout, hs_timeout, auth_timeout
                    )
                except BaseException:
                    sock.close()
                    raise
                try:
                    _authenticate(transport, user, key, host, port)
                except BaseException:
                    transport.close()
                    raise
            except SshError as e:
                e.attempts = attempts
                if isinstance(e, SshBannerTimeout):
                    silent += 1
                now = time.time()
                if retry_until is None or not e.retryable or now >= retry_until:
                    if attempts > 1:
                        e.message += f" (after {attempts} attempts)"
                        e.args = (e.message,)
                    raise
                if on_attempt_failed is not None:
                    on_attempt_failed(e)
                time.sleep(max(0.0, min(retry_interval, retry_until - now)))
                continue
            session = cls(transport, host, port, user)
            session.attempts = attempts
            session.connect_duration = time.monotonic() - start
            return session

    # -- state

    @property
    def transport(self) -> paramiko.Transport:
        return self._transport

    def is_active(self) -> bool:
        return self._transport.is_active()

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- commands

    def _open_channel(self, timeout: float) -> paramiko.Channel:
        if not self._transport.is_active():
            raise SshChannelError("SSH connection is closed", host=self.host, port=self.port)
        try:
            return self._transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshChannelError(
                f"cannot open a session channel: {e}", host=self.host, port=self.port
            ) from e

    def _send_signal(self, chan: paramiko.Channel, name: str) -> None:
        """RFC 4254 "signal" request (dropbear honours it); best effort."""
        m = Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string("signal")
        m.add_boolean(False)
        m.add_string(name)
        with contextlib.suppress(Exception):
            cast(Any, self._transport)._send_user_message(m)

    def _exec(
        self,
        command: str,
        argv: tuple[str, ...],
        *,
        timeout: float,
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
        stdin: bytes | None,
        capture_stdout: bool = True,
    ) -> CommandResult:
        start = time.monotonic()
        deadline = start + timeout
        chan = self._open_channel(timeout=max(1.0, min(timeout, 30.0)))
        out = bytearray()
        err = bytearray()

        def result(exit_status: int | None, timed_out: bool) -> CommandResult:
            return CommandResult(
                argv=argv,
                exit_status=exit_status,
                stdout=bytes(out),
                stderr=bytes(err),
                timed_out=timed_out,
                duration=time.monotonic() - start,
            )

        try:
            try:
                chan.exec_command(command)
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise SshChannelError(
                    f"exec request refused for {command!r}: {e}", host=self.host, port=self.port
                ) from e
            data_in = memoryview(stdin) if stdin else None
            sent = 0
            if data_in is None:
                chan.shutdown_write()
            fd = chan.fileno()
            while True:
                if data_in is not None and chan.send_ready():
                    try:
                        sent += chan.send(bytes(data_in[sent : sent + _CHUNK]))
                    except OSError:  # the command exited without reading all its stdin
                        data_in = None
                        continue
                    if sent >= len(data_in):
                        chan.shutdown_write()
                        data_in = None
                        continue
                got = False
                while chan.recv_ready():
                    chunk = chan.recv(_CHUNK)
                    if not chunk:
                        break
                    got = True
                    if capture_stdout:
                        out += chunk
                    if on_stdout is not None:
                        on_stdout(chunk)
                while chan.recv_stderr_ready():
                    chunk = chan.recv_stderr(_CHUNK)
                    if not chunk:
                        break
                    got = True
                    err += chunk
                    if on_stderr is not None:
                        on_stderr(chunk)
                if got:
                    continue
                if chan.exit_status_ready() and (chan.eof_received or chan.closed):
                    status = chan.exit_status
                    if status >= 0:
                        return result(status, False)
                    # Closed without an exit status: killed by a signal (paramiko ignores
                    # "exit-signal"), or the whole connection died. paramiko closes the
                    # channels a moment before it marks the transport inactive.
                    settle = time.monotonic() + 0.3
                    while self._transport.is_active() and time.monotonic() < settle:
                        time.sleep(0.01)
                    if self._transport.is_active():
                        return result(None, False)
                    raise SshDisconnected(
                        f"connection lost while running {command!r}",
                        partial=result(None, False),
                        host=self.host,
                        port=self.port,
                    )
                if not self._transport.is_active():
                    raise SshDisconnected(
                        f"connection lost while running {command!r}",
                        partial=result(None, False),
                        host=self.host,
                        port=self.port,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = result(None, True)
                    self._send_signal(chan, "KILL")
                    # Let the server reap the process while the channel still exists:
                    # dropbear hands an exit it cannot match to a channel to the *next*
                    # session channel, which then closes at once.
                    chan.status_event.wait(_KILL_GRACE)
                    return timed_out
                wait = min(remaining, 0.05)
                if chan.eof_received:
                    # the pipe stays readable after EOF: wait on the exit status instead
                    chan.status_event.wait(wait)
                elif data_in is not None:
                    select.select([fd], [fd], [], min(wait, 0.01))
                else:
                    select.select([fd], [], [], wait)
        finally:
            chan.close()

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ``argv`` (quoted with shlex.join) and wait at most ``timeout`` seconds.

        Output reaches the callbacks as it arrives and is also collected in the result. On
        timeout the remote process gets SIGKILL, the channel is closed and ``timed_out`` is
        set. SshDisconnected if the connection dies meanwhile."""
        argv_t = tuple(argv)
        if not argv_t:
            raise ValueError("empty argv")
        return self._exec(
            shlex.join(argv_t),
            argv_t,
            timeout=timeout,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            stdin=stdin,
        )

    def run_script(
        self,
        script: str,
        *,
        timeout: float,
        args: Sequence[str] = (),
        shell: str = "sh",
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> CommandResult:
        """Run trusted script text: it goes to ``sh -s`` on stdin, never into a command line."""
        argv = (shell, "-s", "--", *args) if args else (shell, "-s")
        return self._exec(
            shlex.join(argv),
            argv,
            timeout=timeout,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            stdin=script.encode(),
        )

    # -- files

    def put(
        self, local: Path, remote: str, *, mode: int | None = None, timeout: float = 300.0
    ) -> int:
        """Copy a local file to ``remote`` (via ``cat >``); returns the byte count."""
        try:
            data = Path(local).read_bytes()
        except OSError as e:
            raise SshTransferError(f"cannot read {local}: {e}") from e
        script = 'cat > "$1" && wc -c < "$1"'
        argv: tuple[str, ...] = ("sh", "-c", script, "pgo-put", remote)
        if mode is not None:
            script = 'cat > "$1" && chmod "$2" "$1" && wc -c < "$1"'
            argv = ("sh", "-c", script, "pgo-put", remote, f"{mode:o}")
        res = self._exec(
            shlex.join(argv),
            argv,
            timeout=timeout,
            on_stdout=None,
            on_stderr=None,
            stdin=data,
        )
        if not res.ok:
            raise SshTransferError(
                f"put {local} -> {remote} failed ({_describe(res)}): "
                f"{res.stderr.decode(errors='replace').strip()}",
                host=self.host,
                port=self.port,
            )
        written = res.stdout.strip()
        if written != str(len(data)).encode():
            raise SshTransferError(
                f"put {local} -> {remote}: remote has {written.decode(errors='replace')} bytes, "
                f"sent {len(data)}",
                host=self.host,
                port=self.port,
            )
        return len(data)

    def get(self, remote: str, local: Path, *, timeout: float = 300.0) -> int:
        """Copy ``remote`` to a local file (via ``cat``), streaming to disk; returns bytes."""
        local = Path(local)
        part = local.with_name(local.name + ".part")
        argv = ("cat", "--", remote)
        count = 0
        try:
            with part.open("wb") as f:

                def write(chunk: bytes) -> None:
                    nonlocal count
                    f.write(chunk)
                    count += len(chunk)

                res = self._exec(
                    shlex.join(argv),
                    argv,
                    timeout=timeout,
                    on_stdout=write,
                    on_stderr=None,
                    stdin=None,
                    capture_stdout=False,
                )
            if not res.ok:
                raise SshTransferError(
                    f"get {remote} -> {local} failed ({_describe(res)}): "
                    f"{res.stderr.decode(errors='replace').strip()}",
                    host=self.host,
                    port=self.port,
                )
            os.replace(part, local)
        except OSError as e:
            raise SshTransferError(f"cannot write {local}: {e}") from e
        finally:
            part.unlink(missing_ok=True)
        return count

    # -- interactive

    def interactive_shell(
        self,
        *,
        stdin_fd: int | None = None,
        stdout_fd: int | None = None,
        term: str | None = None,
    ) -> int | None:
        """A login shell on a PTY, bridged to the local terminal (raw mode while it runs).

        Returns the shell's exit status (None if it ended without one)."""
        in_fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
        out_fd = sys.stdout.fileno() if stdout_fd is None else stdout_fd
        is_tty = os.isatty(in_fd)
        cols, rows = _terminal_size(in_fd if is_tty else out_fd)
        chan = self._open_channel(timeout=30.0)
        old_attrs: list[Any] | None = None
        old_winch: Any = None
        try:
            chan.get_pty(term=term or os.environ.get("TERM", "xterm"), width=cols, height=rows)
            chan.invoke_shell()
            if is_tty:
                import termios
                import tty

                old_attrs = termios.tcgetattr(in_fd)
                tty.setraw(in_fd, termios.TCSADRAIN)  # TCSAFLUSH would drop typeahead

                def on_winch(_sig: int, _frame: FrameType | None) -> None:
                    c, r = _terminal_size(in_fd)
                    with contextlib.suppress(Exception):
                        chan.resize_pty(width=c, height=r)

                if threading.current_thread() is threading.main_thread():
                    old_winch = signal.signal(signal.SIGWINCH, on_winch)
            stdin_open = True
            while True:
                watch: list[Any] = [chan]
                if stdin_open:
                    watch.append(in_fd)
                try:
                    readable, _, _ = select.select(watch, [], [], 0.5)
                except InterruptedError:
                    continue
                if chan in readable or chan.recv_ready():
                    data = chan.recv(_CHUNK)
                    if not data:
                        break
                    _write_all(out_fd, data)
                if stdin_open and in_fd in readable:
                    try:
                        data = os.read(in_fd, 4096)
                    except OSError:
                        data = b""
                    if data:
                        chan.sendall(data)
                    else:
                        stdin_open = False
                        chan.shutdown_write()
                if chan.exit_status_ready() and not chan.recv_ready():
                    break
                if not self._transport.is_active():
                    break
            chan.status_event.wait(2.0)
            status = chan.exit_status
            return status if status >= 0 else None
        finally:
            chan.close()
            if old_attrs is not None:
                import termios

                termios.tcsetattr(in_fd, termios.TCSADRAIN, old_attrs)
            if old_winch is not None:
                signal.signal(signal.SIGWINCH, old_winch)


def _describe(res: CommandResult) -> str:
    if res.timed_out:
        return f"timed out after {res.duration:.1f}s"
    if res.exit_status is None:
        return "no exit status"
    return f"exit status {res.exit_status}"


def _terminal_size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
        return size.columns, size.lines
    except OSError:
        return 80, 24


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
