"""Human progress on stderr: phase lines, and a live status line when stderr is a terminal.

When several guests run in one process (the pool), their phase lines would interleave on
stderr: the pool routes them instead (``route``/``set_default_sink``) into each guest's own
log, and prints one line per guest itself.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Sink = Callable[[str], None]

_local = threading.local()
_default_sink: Sink | None = None


def set_default_sink(sink: Sink | None) -> None:
    """Where lines of threads without their own sink go (None: stderr)."""
    global _default_sink
    _default_sink = sink


@contextmanager
def route(sink: Sink) -> Iterator[None]:
    """Send this thread's progress lines to ``sink`` instead of stderr."""
    old = getattr(_local, "sink", None)
    _local.sink = sink
    try:
        yield
    finally:
        _local.sink = old


def _sink() -> Sink | None:
    return getattr(_local, "sink", None) or _default_sink


def say(phase: str, message: str) -> None:
    """One progress line: ``[phase] message`` on stderr (or the routed sink)."""
    line = f"[{phase}] {message}"
    sink = _sink()
    if sink is not None:
        sink(line)
        return
    print(line, file=sys.stderr, flush=True)


class Ticker:
    """A status line rewritten in place on a terminal, printed every ``interval`` s otherwise."""

    def __init__(self, phase: str, interval: float = 15.0) -> None:
        self.phase = phase
        self.interval = interval
        self.tty = sys.stderr.isatty() and _sink() is None
        self._last = 0.0
        self._width = 0

    def update(self, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if not force and now - self._last < 0.1:
                return
            line = f"[{self.phase}] {message}"[:150]
            pad = max(0, self._width - len(line))
            sys.stderr.write("\r" + line + " " * pad)
            sys.stderr.flush()
            self._width = len(line)
            self._last = now
        elif force or now - self._last >= self.interval:
            say(self.phase, message)
            self._last = now

    def done(self, message: str) -> None:
        if self.tty and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
        say(self.phase, message)
