"""A fake build and a fake guest for run-workflow tests without a kernel or QEMU.

``install(monkeypatch, tmp_path, ...)`` replaces the two seams of ``workflows/run.py``
(``kbuild.build`` and ``vmguest.boot``) and returns a :class:`Calls` record, so a test can
say how often each was called."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.results import BootInfo
from orchestrator.vm import guest as vmguest
from orchestrator.vm.ssh import CommandResult
from orchestrator.workflows import run as wrun

SPLAT = Path(__file__).parents[1] / "data" / "consoles" / "pgo-fixture1-sleep-in-atomic.log"
SPLAT_TITLE = "BUG: sleeping function called from invalid context in prf_open"

SCENARIO = """\
name = "fake"
description = "a scenario for the fake guest"

[profile]
required = false
check = false

[[readers]]
name = "r"
command = "cat /proc/version"
iterations = 3
keep_every = 1
keep_max = 1

[verdict]
settle = 0
"""


@dataclass
class Calls:
    build: int = 0
    boot: int = 0
    commands: list[tuple[str, ...]] = field(default_factory=list)


def fake_build_result(root: Path) -> kbuild.BuildResult:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("vmlinux", "bzImage", "System.map", "build.log", "reproducer.sh", ".used"):
        (root / name).write_text("")
    (root / "config").write_text("CONFIG_PGO_CLANG=y\n# CONFIG_KASAN is not set\n")
    (root / "metadata.json").write_text(json.dumps({
        "tree": "/src/linux", "repo": None, "rev": None, "commit": "c0ffee" * 6 + "abcd",
        "dirty": False, "warnings": 3, "toolchain": {"clang": "clang version 18.1.3"},
        "key": "k" * 16, "config_sha256": "0" * 64, "vmlinux_sha256": "5" * 64}))
    return kbuild.BuildResult(vmlinux=root / "vmlinux", bzimage=root / "bzImage",
                              config=root / "config", system_map=root / "System.map",
                              metadata=root / "metadata.json",
                              reproducer=root / "reproducer.sh", log=root / "build.log",
                              cached=True, key="k" * 16, result_dir=root, duration=0.5)


def _ok(argv: Sequence[str], out: bytes = b"", status: int | None = 0,
        timed_out: bool = False) -> CommandResult:
    return CommandResult(tuple(argv), status, out, b"", timed_out, 0.01)


class FakeSsh:
    def __init__(self, calls: Calls, *, get_error: BaseException | None = None,
                 reader_output: str = "reader r.0 3 0 0 300 1\n",
                 on_driver: Callable[[], None] | None = None) -> None:
        self.calls = calls
        self.get_error = get_error
        self.reader_output = reader_output
        self.on_driver = on_driver

    def run(self, argv: Sequence[str], *, timeout: float, **kw: Any) -> CommandResult:
        self.calls.commands.append(tuple(argv))
        if argv[:2] == ["sh", "-c"] and "keep" in argv[2] and argv[2].startswith("ls"):
            return _ok(argv, b"r.0.1\n")
        if argv[:1] == ["sh"] and len(argv) == 3 and argv[2] == "main":
            if self.on_driver is not None:
                self.on_driver()
            return _ok(argv, self.reader_output.encode())
        if argv == ["dmesg"]:
            return _ok(argv, b"dmesg text\n")
        return _ok(argv, b"", 1 if argv[:2] == ["sh", "-c"] else 0)

    def run_script(self, script: str, *, timeout: float) -> CommandResult:
        return _ok(["sh"], b"")

    def put(self, local: Path, remote: str, **kw: Any) -> int:
        return 0

    def get(self, remote: str, local: Path, *, timeout: float = 300.0) -> int:
        if self.get_error is not None:
            raise self.get_error
        local.write_bytes(b"\x81rforpl\xff" + b"\0" * 64)
        return 72


class FakeMachine:
    class _Timings:
        def to_json(self) -> dict[str, object]:
            return {"qemu_started": 0.0, "userspace": 1.5}

    def __init__(self) -> None:
        self.timings = self._Timings()

    def gone(self) -> bool:
        return False


class FakeAccel:
    accel = "tcg"


class FakeGuest:
    def __init__(self, ssh: FakeSsh, *, responsive: bool = True) -> None:
        self.ssh = ssh
        self.machine = FakeMachine()
        self.accel = FakeAccel()
        self.boot_method = "pvh"
        self.hung = False
        self.last_hang = None
        self._responsive = responsive

    def boot_info(self) -> BootInfo:
        return BootInfo(accel=self.accel.accel, method=self.boot_method)

    def responsive(self, timeout: float = 5.0) -> bool:
        return self._responsive

    def hang_summary(self) -> str:
        self.hung = True
        return "guest stopped answering: CPU#0 spinning in prf_open"

    def __enter__(self) -> FakeGuest:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, splat: bool = False,
            **ssh_kw: Any) -> Calls:
    calls = Calls()
    built = fake_build_result(tmp_path / "kernel")
    # a cache of its own: the pool's host slots live in the cache, and a real run elsewhere
    # on this host (another suite, a CI job) must not make a fake run wait for a slot
    monkeypatch.setenv("PGO_ORCH_CACHE", str(tmp_path / "cache"))

    def build(req: kbuild.BuildRequest) -> kbuild.BuildResult:
        calls.build += 1
        return built

    def boot(image: vmguest.KernelImage, run_dir: Path, opts: vmguest.BootOptions,
             console_listeners: Sequence[Callable[[bytes], None]] = ()) -> FakeGuest:
        calls.boot += 1
        console = SPLAT.read_bytes() if splat else b"Linux version 6.9\n"
        (run_dir / "console.log").write_bytes(console)
        for listener in console_listeners:
            listener(console)
        return FakeGuest(FakeSsh(calls, **ssh_kw))

    monkeypatch.setattr(wrun.kbuild, "build", build)
    monkeypatch.setattr(wrun.vmguest, "boot", boot)
    monkeypatch.setattr(wrun, "build_request", lambda sc, opts: None)
    monkeypatch.setattr(wrun, "_symbolize", lambda findings, vmlinux: None)
    return calls
