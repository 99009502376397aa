"""The guest's serial console: streamed to console.log as it arrives, watched for markers.

A pump thread reads QEMU's stdout (the serial port), appends every chunk to console.log
(flushed at once, so nothing is lost whatever happens to pgo-orch), keeps a bounded tail in
memory, and hands the bytes to listeners (e.g. the splat detector). It never stops before
QEMU's EOF: a full disk or a failing listener is noted in ``errors``, not fatal.

(Named ``serial_console`` so it is not mistaken for ``detect/console.py``, the parser of
console lines.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

Listener = Callable[[bytes], None]
_TAIL = 256 * 1024


class SerialConsole:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._tail = bytearray()
        self._cond = threading.Condition()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self.first_output: float | None = None  # time.monotonic() of the first byte
        self.last_output: float | None = None
        self.eof = False
        self.total = 0
        #: consumer failures the pump survived (log write, listener), one line per kind
        self.errors: list[str] = []
        self._error_kinds: set[tuple[str, str, object]] = set()

    def add_listener(self, fn: Listener) -> None:
        with self._cond:
            self._listeners.append(fn)

    def start(self, stream: IO[bytes]) -> None:
        self._thread = threading.Thread(target=self._pump, args=(stream,), name="console",
                                        daemon=True)
        self._thread.start()

    def _note(self, what: str, exc: BaseException) -> None:
        """Record a consumer failure once per kind (the pump itself never stops for one)."""
        text = f"{what}: {type(exc).__name__}: {exc}"
        key = (what, type(exc).__name__, getattr(exc, "errno", None))
        with self._cond:
            if key in self._error_kinds:
                return
            self._error_kinds.add(key)
            self.errors.append(text)

    def _pump(self, stream: IO[bytes]) -> None:
        """Drain QEMU's output until EOF, whatever the log file or the listeners do.

        A failed log write (disk full) or a raising listener is recorded in ``errors`` and
        the pump goes on: if it stopped, QEMU's stdout pipe would fill and the guest's serial
        port would block, which would look like a hang of the kernel under test."""
        read = getattr(stream, "read1", stream.read)
        try:
            while True:
                try:
                    chunk = read(65536)
                except OSError as exc:
                    self._note("reading QEMU's output", exc)
                    break
                if not chunk:
                    break
                now = time.monotonic()
                try:
                    self._log.write(chunk)
                except (OSError, ValueError) as exc:
                    self._note(f"writing {self.log_path}", exc)
                with self._cond:
                    if self.first_output is None:
                        self.first_output = now
                    self.last_output = now
                    self.total += len(chunk)
                    self._tail += chunk
                    if len(self._tail) > _TAIL:
                        del self._tail[: len(self._tail) - _TAIL]
                    listeners = list(self._listeners)
                    self._cond.notify_all()
                for fn in listeners:
                    try:
                        fn(chunk)
                    except Exception as exc:  # noqa: BLE001 - a consumer's bug, not ours to die of
                        self._note(f"console listener {getattr(fn, '__qualname__', fn)}", exc)
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def tail(self, size: int = 65536) -> str:
        with self._cond:
            return bytes(self._tail[-size:]).decode(errors="replace")

    def wait_for(self, marker: str, timeout: float, *, since: int = 0,
                  stop: Callable[[], bool] | None = None) -> bool:
        """Wait until ``marker`` appears in the console (after byte offset ``since``).

        Returns False at the deadline, at end of output, or when ``stop()`` turns true.
        """
        needle = marker.encode()
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                start = max(0, len(self._tail) - (self.total - since))
                if needle in self._tail[start:]:
                    return True
                left = end - time.monotonic()
                if left <= 0 or self.eof or (stop is not None and stop()):
                    return False
                self._cond.wait(min(left, 0.2))

    def join(self, timeout: float = 2.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.join()
        self._log.close()
