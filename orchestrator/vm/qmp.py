"""A synchronous face on ``qemu.qmp``'s asyncio QMPClient, run in its own event-loop thread.

The rest of pgo-orch is threaded; this bridge lets it call QMP commands with deadlines and
receive events (SHUTDOWN, GUEST_PANICKED, RESET, STOP, ...) in a thread-safe queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient, QMPError

from orchestrator.errors import InfraError


class QmpError(InfraError):
    def __init__(self, message: str, *, reason: str = "qmp-error") -> None:
        super().__init__(message, reason=reason)


@dataclass(frozen=True)
class QmpEvent:
    name: str
    data: dict[str, Any]
    at: float  # time.monotonic() when received


class Qmp:
    """Connect to QEMU's QMP unix socket; ``execute`` and ``events`` are thread-safe."""

    def __init__(self, name: str = "pgo-orch") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="qmp-loop",
                                        daemon=True)
        self._thread.start()
        self._client = QMPClient(name)
        self.events: queue.Queue[QmpEvent] = queue.Queue()
        self._event_task: concurrent.futures.Future[None] | None = None
        self._closed = False

    def _call(self, coro: Any, timeout: float) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError as exc:
            fut.cancel()
            raise QmpError(f"QMP did not answer within {timeout:.1f}s",
                           reason="qmp-timeout") from exc

    def connect(self, socket_path: Path, *, deadline: float,
                alive: Callable[[], bool] | None = None) -> None:
        """Connect, retrying until ``deadline`` (time.monotonic) while QEMU creates the socket.

        ``alive`` (QEMU still running?) is asked on every retry: a QEMU that exited at start
        fails the connect at once (reason ``qemu-exited``) instead of at the deadline."""
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise QmpError(f"QEMU exited before QMP at {socket_path} answered",
                               reason="qemu-exited")
            if socket_path.exists():
                try:
                    self._call(self._client.connect(str(socket_path)),
                               max(0.1, min(2.0, deadline - time.monotonic())))
                    break
                except QmpError as exc:  # this attempt's own deadline
                    last = exc
                except (QMPError, OSError) as exc:
                    last = exc
            time.sleep(0.02)
        else:
            raise QmpError(f"could not connect to QMP at {socket_path}: {last or 'no socket'}",
                           reason="qmp-connect")
        self._event_task = asyncio.run_coroutine_threadsafe(self._pump_events(), self._loop)

    async def _pump_events(self) -> None:
        with contextlib.suppress(Exception):
            async for ev in self._client.events:
                data = ev.get("data", {})
                self.events.put(QmpEvent(str(ev["event"]),
                                         dict(data) if isinstance(data, Mapping) else {},
                                         time.monotonic()))

    def execute(self, cmd: str, args: Mapping[str, object] | None = None, *,
                timeout: float = 10.0) -> Any:
        try:
            return self._call(self._client.execute(cmd, args), timeout)
        except QMPError as exc:
            raise QmpError(f"QMP {cmd} failed: {exc}") from exc

    def hmp(self, command: str, *, timeout: float = 10.0) -> str:
        """A human monitor command through QMP (e.g. ``info registers -a``)."""
        return str(self.execute("human-monitor-command", {"command-line": command},
                                timeout=timeout))

    def wait_event(self, names: set[str], timeout: float) -> QmpEvent | None:
        """The next event whose name is in ``names``, or None at the deadline."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if ev.name in names:
                return ev

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._event_task is not None:
            self._event_task.cancel()
        with contextlib.suppress(Exception):
            self._call(self._client.disconnect(), 2.0)
        with contextlib.suppress(Exception):
            self._call(asyncio.sleep(0), 1.0)  # let the cancelled pump task finish
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2.0)
        if not self._thread.is_alive():
            self._loop.close()
