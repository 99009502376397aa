"""Human progress on stderr: phase lines, and a live status line when stderr is a terminal."""

from __future__ import annotations

import sys
import time


def say(phase: str, message: str) -> None:
    """One progress line: ``[phase] message`` on stderr."""
    print(f"[{phase}] {message}", file=sys.stderr, flush=True)


class Ticker:
    """A status line rewritten in place on a terminal, printed every ``interval`` s otherwise."""

    def __init__(self, phase: str, interval: float = 15.0) -> None:
        self.phase = phase
        self.interval = interval
        self.tty = sys.stderr.isatty()
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
