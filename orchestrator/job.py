"""A run as a serializable job: the one seam pools, engines and workflows call.

A :class:`Job` is plain data (JSON in, JSON out): the scenario's TOML text, the kernel tree and
revision, extra options and where to put the run. :func:`run_job` runs it into
``<out_root>/<job_id>/`` and returns the result JSON (CONTRACT.md); it is idempotent: a job
whose stored result.json is deterministic for its inputs (verdict pass or fail, or error with a
reason in :data:`STORED_ERRORS`) is answered from disk without building or booting; any other
error (boot timeout, SSH, QEMU, interrupted, infra) is transient and the job is rerun.
A :data:`Runner` runs a batch of jobs; :func:`run_serial` is the default one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from orchestrator.errors import InfraError, InvalidInput
from orchestrator.results import RunOptions, RunResult, Verdict
from orchestrator.rundir import RunDir

__all__ = ["Job", "Runner", "run_job", "run_serial"]

_ID_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Job:
    scenario_text: str  # TOML text of the scenario
    out_root: str  # run directory = Path(out_root) / job_id
    scenario_origin: str = "<job>"  # name used in error messages (file path or label)
    tree: str | None = None  # kernel tree path; None = the default tree
    rev: str | None = None  # git revision of the tree (scratch worktree build)
    options: tuple[str, ...] = ()  # extra CONFIG_X=V options (like -K)
    accel: str | None = None  # override: auto | kvm | tcg
    jobs: int | None = None  # make -j
    attempt_tag: str = ""  # lets callers ask for a distinct run of the same inputs
    job_id: str = ""  # "" -> computed: 16 hex of sha256 over the fields above

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not self.job_id:
            object.__setattr__(self, "job_id", self.compute_id())
        elif len(self.job_id) > 64 or not set(self.job_id) <= _ID_HEX | set("-_"):
            raise InvalidInput(f"job_id {self.job_id!r} must be hex digits, '-' or '_'",
                               field="job_id")

    def compute_id(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "job_id"}
        data["options"] = list(self.options)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def run_dir(self) -> Path:
        return Path(self.out_root) / self.job_id

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = list(self.options)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        """A job from its JSON (InvalidInput naming the field on bad data)."""
        if not isinstance(data, dict):
            raise InvalidInput("a job must be a JSON object", field="job")
        known = {f.name: f for f in fields(cls)}
        for key in data:
            if key not in known:
                raise InvalidInput(f"unknown key {key!r}", field=f"job.{key}")
        for key in ("scenario_text", "out_root"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise InvalidInput("must be a non-empty string", field=f"job.{key}")
        for key in ("scenario_origin", "attempt_tag", "job_id"):
            if key in data and not isinstance(data[key], str):
                raise InvalidInput("must be a string", field=f"job.{key}")
        for key in ("tree", "rev", "accel"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InvalidInput("must be a string or null", field=f"job.{key}")
        if data.get("accel") not in (None, "auto", "kvm", "tcg"):
            raise InvalidInput("must be auto, kvm or tcg", field="job.accel")
        jobs = data.get("jobs")
        if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int)
                                 or jobs < 1):
            raise InvalidInput("must be a positive integer or null", field="job.jobs")
        opts = data.get("options", [])
        if not isinstance(opts, list | tuple) or not all(isinstance(o, str) for o in opts):
            raise InvalidInput("must be a list of strings", field="job.options")
        return cls(**{**data, "options": tuple(opts)})


def run_job(job: Job) -> dict[str, Any]:
    """Run one job; returns the result JSON.

    Raises only InvalidInput (exit 3) for a job that cannot be run at all (bad scenario text,
    unknown tree or rev), and KeyboardInterrupt (after writing an ``interrupted`` result).
    A run directory that cannot be created or written gives an ``error`` result (not stored).
    Idempotent: a stored result.json is returned as is when its verdict is pass or fail, or
    error with a reason_code in :data:`STORED_ERRORS`; other (transient) errors are rerun.
    """
    from orchestrator.scenario import loader
    from orchestrator.workflows.run import ReportsNotWritten, run_scenario

    sc = loader.loads(job.scenario_text, origin=job.scenario_origin)
    opts = RunOptions(tree=Path(job.tree) if job.tree else None, jobs=job.jobs,
                      accel=job.accel, extra_options=list(job.options), rev=job.rev)
    try:
        with RunDir.claim_job(job.run_dir) as rd:
            stored = _stored_result(rd)
            if stored is not None:
                return stored
            rd.reset()
            # run_scenario writes result.json last, atomically (report.write_all)
            return run_scenario(sc, rd, opts, job_id=job.job_id).to_json()
    except ReportsNotWritten as exc:
        return exc.result.to_json()
    except OSError as exc:
        err = InfraError(f"cannot use run directory {job.run_dir}: {exc}", reason="run-dir")
        return _unrun(job, sc.name, opts, err)
    except InfraError as exc:  # the run directory cannot be created
        return _unrun(job, sc.name, opts, exc)


def _unrun(job: Job, scenario: str, opts: RunOptions, exc: InfraError) -> dict[str, Any]:
    """The result of a job that could not even get its run directory (not stored)."""
    res = RunResult(scenario, job.run_dir, job_id=job.job_id, verdict=Verdict.ERROR,
                    reason=f"{exc.reason}: {exc.message}", reason_code=exc.reason,
                    options=opts)
    return res.to_json()


#: error reasons that are deterministic for a job's inputs: a stored result with one of them is
#: final; any other error (boot-timeout, ssh-*, qemu-*, interrupted, infra, ...) is rerun
STORED_ERRORS = frozenset({"build-failed", "config-mismatch", "requirement-missing",
                           "profile-interface-missing"})


def _stored_result(rd: RunDir) -> dict[str, Any] | None:
    """The stored result when it is final for these inputs, else None (run again)."""
    try:
        data = json.loads(rd.result_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    verdict = data.get("verdict")
    if verdict in ("pass", "fail"):
        return data
    if verdict == "error" and data.get("reason_code") in STORED_ERRORS:
        return data
    return None


#: runs a batch of jobs; results in the order of the jobs
Runner = Callable[[Sequence[Job]], list[dict[str, Any]]]


def run_serial(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """The default :data:`Runner`: one job after the other, in this process."""
    return [run_job(j) for j in jobs]
