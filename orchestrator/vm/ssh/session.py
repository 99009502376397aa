"""A session on the guest: commands with deadlines, output streamed and capped.

Commands: argv is joined with ``shlex.join``; trusted scenario text goes through
``run_script`` (stdin to ``sh -s``), never interpolated. Files go through ``transfer``
(dropbear has no SFTP server), the interactive shell through ``shell``.
"""

from __future__ import annotations

import contextlib
import select
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from orchestrator.vm.ssh import shell, transfer
from orchestrator.vm.ssh.connect import host_key_fingerprint, open_transport
from orchestrator.vm.ssh.errors import (
    CommandResult,
    SshChannelError,
    SshDisconnected,
    SshError,
)

OutputCallback = Callable[[bytes], None]

_CHUNK = 32768
#: after a timeout, how long to wait for the server to confirm the killed command is gone
_KILL_GRACE = 2.0
#: bytes of each output stream a command result keeps by default (the tail)
MAX_OUTPUT = 16 * 1024 * 1024
#: seconds between SSH keepalives on an idle connection
KEEPALIVE = 5.0


class _Tail:
    """The last ``limit`` bytes of a stream, and how many came before them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()
        self.cut = 0

    def add(self, chunk: bytes) -> None:
        self.buf += chunk
        over = len(self.buf) - self.limit
        if over > 0:
            del self.buf[:over]
            self.cut += over

    def bytes(self) -> bytes:
        return bytes(self.buf)


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
        host_key: paramiko.PKey | None = None,
        keepalive: float = KEEPALIVE,
    ) -> SshSession:
        """Connect and authenticate with ``key``; ``host_key`` pins the server's key.

        ``keepalive``: seconds between keepalive requests on an idle connection (0: none), so
        a connection that died without a FIN shows up as an error instead of silence.

        See ``connect.open_transport`` for the phases, deadlines and retries.
        """
        start = time.monotonic()
        transport, attempts = open_transport(
            host, port, key, connect_timeout=connect_timeout, banner_timeout=banner_timeout,
            auth_timeout=auth_timeout, user=user, retry_until=retry_until,
            handshake_timeout=handshake_timeout, retry_interval=retry_interval,
            on_attempt_failed=on_attempt_failed, host_key=host_key)
        if keepalive > 0:
            transport.set_keepalive(max(1, round(keepalive)))
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

    def open_channel(self, timeout: float) -> paramiko.Channel:
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

    def _request_exec(self, chan: paramiko.Channel, command: str, deadline: float) -> bool:
        """Send the exec request and wait for its answer until ``deadline``.

        paramiko's ``exec_command`` waits for the answer without a deadline, so a guest stuck
        in fork/exec would hang pgo-orch: this sends the same request and waits with one.
        False when no answer came in time; SshChannelError when the server refused."""
        m = Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string("exec")
        m.add_boolean(True)
        m.add_string(command)
        raw = cast(Any, chan)
        raw._event_pending()
        try:
            cast(Any, self._transport)._send_user_message(m)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshChannelError(
                f"exec request for {command!r} not sent: {e}", host=self.host, port=self.port
            ) from e
        while not raw.event.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
            if not self._transport.is_active():
                break
        if raw.event_ready:
            return True
        why = self._transport.get_exception() or paramiko.SSHException("Channel closed.")
        raise SshChannelError(
            f"exec request refused for {command!r}: {why}", host=self.host, port=self.port
        )

    def execute(
        self,
        command: str,
        argv: tuple[str, ...],
        *,
        timeout: float,
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
        stdin: bytes | None,
        capture_stdout: bool = True,
        max_output: int = MAX_OUTPUT,
    ) -> CommandResult:
        """Run the shell ``command`` (``argv`` is what it was made from, for the record).

        Every step has the one deadline ``timeout``: the channel open, the exec request's
        answer, and the output loop, checked on every iteration even while data flows. At
        most ``max_output`` bytes of each stream are kept (the tail; the result says how much
        was cut); the callbacks see everything."""
        start = time.monotonic()
        deadline = start + timeout
        chan = self.open_channel(timeout=max(0.5, min(timeout, 30.0)))
        out = _Tail(max_output if capture_stdout else 0)
        err = _Tail(max_output)

        def result(exit_status: int | None, timed_out: bool) -> CommandResult:
            return CommandResult(
                argv=argv,
                exit_status=exit_status,
                stdout=out.bytes(),
                stderr=err.bytes(),
                timed_out=timed_out,
                duration=time.monotonic() - start,
                stdout_cut=out.cut if capture_stdout else 0,
                stderr_cut=err.cut,
            )

        try:
            if not self._request_exec(chan, command, deadline):
                return result(None, True)  # never started: nothing to kill
            data_in = memoryview(stdin) if stdin else None
            sent = 0
            if data_in is None:
                chan.shutdown_write()
            fd = chan.fileno()
            while True:
                if time.monotonic() >= deadline:
                    return self._kill(chan, result(None, True))
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
                if chan.recv_ready():
                    chunk = chan.recv(_CHUNK)
                    if chunk:
                        got = True
                        out.add(chunk)
                        if on_stdout is not None:
                            on_stdout(chunk)
                if chan.recv_stderr_ready():
                    chunk = chan.recv_stderr(_CHUNK)
                    if chunk:
                        got = True
                        err.add(chunk)
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
                wait = min(max(0.0, deadline - time.monotonic()), 0.05)
                if chan.eof_received:
                    # the pipe stays readable after EOF: wait on the exit status instead
                    chan.status_event.wait(wait)
                elif data_in is not None:
                    select.select([fd], [fd], [], min(wait, 0.01))
                else:
                    select.select([fd], [], [], wait)
        finally:
            chan.close()

    def _kill(self, chan: paramiko.Channel, timed_out: CommandResult) -> CommandResult:
        self._send_signal(chan, "KILL")
        # Let the server reap the process while the channel still exists: dropbear hands an
        # exit it cannot match to a channel to the *next* session channel, which then closes
        # at once.
        chan.status_event.wait(_KILL_GRACE)
        return timed_out

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        stdin: bytes | None = None,
        max_output: int = MAX_OUTPUT,
    ) -> CommandResult:
        """Run ``argv`` (quoted with shlex.join) and wait at most ``timeout`` seconds.

        Output reaches the callbacks as it arrives and its last ``max_output`` bytes are
        collected in the result. On timeout (also when the exec request is never answered)
        the remote process gets SIGKILL, the channel is closed and ``timed_out`` is set.
        SshDisconnected if the connection dies meanwhile."""
        argv_t = tuple(argv)
        if not argv_t:
            raise ValueError("empty argv")
        return self.execute(
            shlex.join(argv_t),
            argv_t,
            timeout=timeout,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            stdin=stdin,
            max_output=max_output,
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
        return self.execute(
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
        return transfer.put(self, local, remote, mode=mode, timeout=timeout)

    def get(self, remote: str, local: Path, *, timeout: float = 300.0) -> int:
        """Copy ``remote`` to a local file (via ``cat``), streaming to disk; returns bytes."""
        return transfer.get(self, remote, local, timeout=timeout)

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
        return shell.interactive(self, stdin_fd=stdin_fd, stdout_fd=stdout_fd, term=term)

