"""The result of one run, as a value: verdict, findings, kernel, boot, reads, profiles, timings.

This module owns the run result model and its JSON form (``result.json``, the value
``job.run_job`` returns; the keys are fixed by CONTRACT.md). It sits below ``workflows/`` and
``report/`` and imports nothing from them: workflows fill a :class:`RunResult`, reports and
other runs read it. Findings are the detector's :class:`~orchestrator.detect.detector.Finding`
(``expected`` carries the allowlist reason, ``key`` the stable class|title key).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from orchestrator.detect.detector import Finding
from orchestrator.detect.frames import Frame
from orchestrator.errors import ExitCode, InvalidInput
from orchestrator.scenario.driver import ReaderStats

__all__ = ["BootInfo", "RunCheck", "KernelInfo", "ProfileCheck", "ReadTotals", "RunOptions",
           "RunResult", "Timings", "Verdict", "finding_from_json"]

#: reason codes (``RunResult.reason_code``) of a failing run
FAIL_CODES = ("kernel-finding", "read-errors", "invalid-profile", "guest-hung")


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"

    @property
    def exit_code(self) -> ExitCode:
        return {Verdict.PASS: ExitCode.OK, Verdict.FAIL: ExitCode.KERNEL_PROBLEM}.get(
            self, ExitCode.INFRA)


@dataclass
class RunOptions:
    """How a scenario was run beyond the scenario itself (enough to run it again)."""

    tree: Path | None = None
    jobs: int | None = None
    accel: str | None = None  # overrides the scenario's
    extra_options: list[str] = field(default_factory=list)
    rev: str | None = None  # build this revision of the tree

    def to_json(self) -> dict[str, Any]:
        return {"tree": str(self.tree) if self.tree is not None else None, "jobs": self.jobs,
                "accel": self.accel, "extra_options": list(self.extra_options),
                "rev": self.rev}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunOptions:
        return cls(tree=Path(d["tree"]) if d.get("tree") else None, jobs=d.get("jobs"),
                   accel=d.get("accel"), extra_options=list(d.get("extra_options") or []),
                   rev=d.get("rev"))


@dataclass
class RunCheck:
    """One scenario check (a JUnit test case)."""

    name: str
    ok: bool
    message: str = ""
    detail: str = ""
    skipped: bool = False


@dataclass
class KernelInfo:
    """The kernel under test; fields are None when unknown (e.g. the build failed)."""

    ok: bool = True
    error: str | None = None
    key: str | None = None
    cached: bool | None = None
    result_dir: str | None = None
    log: str | None = None
    tree: str | None = None
    commit: str | None = None
    rev: str | None = None
    vmlinux: str | None = None
    vmlinux_sha256: str | None = None
    warnings: int | None = None
    #: paths of the build's metadata.json and .config (None when not built)
    metadata: str | None = None
    config: str | None = None
    duration_s: float | None = None
    #: toolchain versions from the metadata (for the profile check)
    toolchain: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KernelInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class BootInfo:
    accel: str | None = None
    method: str | None = None
    #: the machine's boot phase timings (seconds) as the vm layer measured them
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"accel": self.accel, "method": self.method, **self.phases}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BootInfo:
        rest = {k: float(v) for k, v in d.items()
                if k not in ("accel", "method") and isinstance(v, int | float)}
        return cls(accel=d.get("accel"), method=d.get("method"), phases=rest)


@dataclass
class ProfileCheck:
    """One profile copy the readers kept, and what the profile check said of it."""

    file: str
    size: int
    valid: bool | None = None  # None: not checked
    message: str = ""
    detail: str = ""
    version: int | None = None
    functions: int | None = None
    nonzero_functions: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProfileCheck:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class ReadTotals:
    total: int = 0
    failed: int = 0
    short: int = 0

    def to_json(self) -> dict[str, int]:
        return {"total": self.total, "failed": self.failed, "short": self.short}


@dataclass
class Timings:
    """Seconds per phase of the run (only the phases that ran), and the total."""

    phases: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, seconds: float) -> None:
        self.phases[name] = round(seconds, 3)

    @property
    def total(self) -> float:
        return self.phases.get("total", 0.0)

    def to_json(self) -> dict[str, float]:
        """Every phase that ran; ``build``, ``boot`` and ``total`` always (0.0 if not run)."""
        out = dict(self.phases)
        for key in ("build", "boot", "total"):
            out.setdefault(key, 0.0)
        return out


def _frame_from_json(d: dict[str, Any]) -> Frame:
    known = {f.name for f in fields(Frame)}
    return Frame(**{k: v for k, v in d.items() if k in known})


def finding_to_json(f: Finding) -> dict[str, Any]:
    return {"key": f.key, **f.to_json(), "expected": f.expected is not None,
            "expected_reason": f.expected}


def finding_from_json(d: dict[str, Any]) -> Finding:
    return Finding(klass=d["class"], title=d["title"], report=d.get("report", ""),
                   frames=[_frame_from_json(x) for x in d.get("frames") or []],
                   guilty=d.get("guilty"), corrupted=bool(d.get("corrupted")),
                   fatal=bool(d.get("fatal")), caller=d.get("caller"),
                   first_time=d.get("first_time"), last_time=d.get("last_time"),
                   count=int(d.get("count", 1)), cause=d.get("cause"),
                   line=int(d.get("line", 0)), expected=d.get("expected_reason"))


@dataclass
class RunResult:
    """Everything one run found out. ``to_json`` is the result JSON of CONTRACT.md."""

    scenario: str
    run_dir: Path
    description: str = ""
    job_id: str = ""
    verdict: Verdict = Verdict.ERROR
    reason: str = ""
    reason_code: str = "infra"
    reproduced: bool | None = None
    findings: list[Finding] = field(default_factory=list)
    readers: list[ReaderStats] = field(default_factory=list)
    profiles: list[ProfileCheck] = field(default_factory=list)
    profile_path: str | None = None
    checks: list[RunCheck] = field(default_factory=list)
    kernel: KernelInfo = field(default_factory=KernelInfo)
    boot: BootInfo = field(default_factory=BootInfo)
    hang: str | None = None
    timings: Timings = field(default_factory=Timings)
    options: RunOptions = field(default_factory=RunOptions)

    @property
    def exit_code(self) -> int:
        return int(self.verdict.exit_code)

    @property
    def expected(self) -> list[Finding]:
        return [f for f in self.findings if f.expected is not None]

    @property
    def reads(self) -> ReadTotals:
        return ReadTotals(total=sum(r.reads for r in self.readers),
                          failed=sum(r.failures for r in self.readers),
                          short=sum(r.short for r in self.readers))

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "scenario": self.scenario,
            "run_dir": str(self.run_dir),
            "verdict": str(self.verdict),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "reproduced": self.reproduced,
            "findings": [finding_to_json(f) for f in self.findings],
            "reads": self.reads.to_json(),
            "profiles": [p.to_json() for p in self.profiles],
            "kernel": self.kernel.to_json(),
            "hang": self.hang,
            "timings_s": self.timings.to_json(),
            # additions beyond the contract's keys (enough to rebuild the value)
            "description": self.description,
            "profile_path": self.profile_path,
            "boot": self.boot.to_json(),
            "readers": [r.to_json() for r in self.readers],
            "checks": [{"name": c.name, "ok": c.ok, "message": c.message, "detail": c.detail,
                        "skipped": c.skipped} for c in self.checks],
            "options": self.options.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunResult:
        """The value back from :meth:`to_json` (InvalidInput if ``d`` is not one)."""
        try:
            return cls(
                scenario=d["scenario"], run_dir=Path(d["run_dir"]),
                description=d.get("description", ""), job_id=d.get("job_id", ""),
                verdict=Verdict(d["verdict"]), reason=d.get("reason", ""),
                reason_code=d.get("reason_code", ""), reproduced=d.get("reproduced"),
                findings=[finding_from_json(x) for x in d.get("findings", [])],
                readers=[_reader_from_json(x) for x in d.get("readers", [])],
                profiles=[ProfileCheck.from_json(x) for x in d.get("profiles", [])],
                profile_path=d.get("profile_path"),
                checks=[RunCheck(**x) for x in d.get("checks", [])],
                kernel=KernelInfo.from_json(d.get("kernel") or {}),
                boot=BootInfo.from_json(d.get("boot") or {}),
                hang=d.get("hang"),
                timings=Timings({k: float(v) for k, v in (d.get("timings_s") or {}).items()}),
                options=RunOptions.from_json(d.get("options") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"not a run result: {type(exc).__name__}: {exc}",
                               field="result") from exc


def _reader_from_json(d: dict[str, Any]) -> ReaderStats:
    return ReaderStats(name=d["name"], worker=int(d["worker"]), reads=int(d.get("reads", 0)),
                       failures=int(d.get("failures", 0)), short=int(d.get("short", 0)),
                       bytes=int(d.get("bytes", 0)), kept=int(d.get("kept", 0)),
                       events=list(d.get("events") or []))
