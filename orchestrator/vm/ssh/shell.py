"""An interactive login shell on the guest, bridged to the local terminal.

The local terminal is put in raw mode while the shell runs (restored afterwards) and window
size changes are passed on (SIGWINCH, main thread only).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from types import FrameType
from typing import Any, Protocol

import paramiko


class Channels(Protocol):
    """What the shell needs of a session (``SshSession`` is one)."""

    @property
    def transport(self) -> paramiko.Transport: ...

    def open_channel(self, timeout: float) -> paramiko.Channel: ...

_CHUNK = 32768


def interactive(
    session: Channels,
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
    chan = session.open_channel(timeout=30.0)
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
            if not session.transport.is_active():
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
