"""The console pump keeps draining QEMU's output whatever its consumers do (issue 9 item 13).

If it stopped, QEMU's stdout pipe would fill, the guest's serial port would block and the run
would be misreported as a boot timeout or a hang.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from orchestrator.vm.serial_console import SerialConsole

CHUNK = b"x" * 4096 + b"\n"
N = 256  # 1 MiB: far more than a pipe buffer


def _feed(console: SerialConsole) -> None:
    r, w = os.pipe()
    console.start(os.fdopen(r, "rb"))

    def produce() -> None:
        with os.fdopen(w, "wb") as f:
            for _ in range(N):
                f.write(CHUNK)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "the writer blocked: the pump stopped draining"
    console.join(5)


class _FullDisk:
    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        pass


def test_pump_survives_a_full_disk(tmp_path: Path) -> None:
    console = SerialConsole(tmp_path / "console.log")
    console._log.close()
    console._log = _FullDisk()  # type: ignore[assignment]
    seen: list[int] = []
    console.add_listener(lambda chunk: seen.append(len(chunk)))
    _feed(console)
    assert console.eof and console.total == N * len(CHUNK)
    assert sum(seen) == N * len(CHUNK), "listeners still get everything"
    assert any("No space left" in e for e in console.errors)
    assert len(console.errors) <= 5, "one note per kind of failure, not one per chunk"
    console.close()


def test_pump_survives_a_failing_listener(tmp_path: Path) -> None:
    console = SerialConsole(tmp_path / "console.log")

    def broken(chunk: bytes) -> None:
        raise RuntimeError("detector bug")

    good: list[int] = []
    console.add_listener(broken)
    console.add_listener(lambda chunk: good.append(len(chunk)))
    _feed(console)
    assert console.total == N * len(CHUNK) == sum(good)
    assert (tmp_path / "console.log").stat().st_size == N * len(CHUNK)
    assert any("detector bug" in e for e in console.errors)
    console.close()
