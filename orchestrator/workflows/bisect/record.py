"""The bisection directory: what is written where, and reading it back for ``--resume``.

Layout of ``DIR`` (``--out``)::

    state.json     the inputs (scenario text, tree, ends, options), then the target, the hit
                   rate p and k once both ends are checked
    steps.jsonl    one JSON object per tested commit, appended as each finishes: role (end-bad,
                   end-good, step, verify-culprit, verify-parent), commit, subject, verdict,
                   git term, runs, hits, titles, other splats, skip reason, build keys,
                   vmlinux sha256, run directories
    bisect.log     ``git bisect log``, rewritten after every step (``git bisect replay`` input)
    runs/<job>/    one run directory per job (the run seam's own layout)
    result.json    the outcome (also written, marked, when interrupted or failed)
    result.txt     the same for a maintainer's reply
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput
from orchestrator.workflows.bisect.probe import Probe

STATE = "state.json"
STEPS = "steps.jsonl"
LOG = "bisect.log"
RESULT_JSON = "result.json"
RESULT_TXT = "result.txt"
RUNS = "runs"


@dataclass
class Inputs:
    """What the bisection was asked to do (state.json's ``inputs``)."""

    scenario_text: str
    scenario_origin: str
    tree: str
    good: str
    bad: str
    good_rev: str = ""  # as the user spelled them
    bad_rev: str = ""
    fix: bool = False
    match: str | None = None
    runs: int = 3
    confidence: float = 0.95
    max_runs: int = 10
    retries: int = 1
    options: list[str] = field(default_factory=list)
    accel: str | None = None
    jobs: int | None = None
    commits_in_range: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], origin: str) -> Inputs:
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidInput(f"not a bisection state: {exc}", path=origin,
                               field="inputs") from exc


@dataclass
class StepRecord:
    role: str  # end-bad, end-good, step, verify-culprit, verify-parent
    commit: str
    subject: str
    verdict: str  # bad, good, skip (the bug's sense)
    term: str  # what git was told ("" for ends and checks)
    runs: int
    hits: int
    clean: int
    titles: list[str]
    other_titles: list[str]
    skip_reason: str
    build_keys: list[str]
    vmlinux_sha256: str | None
    builds: int
    k: int
    run_dirs: list[str]
    run_outcomes: list[dict[str, Any]]

    @classmethod
    def of(cls, role: str, pr: Probe, subject: str, term: str, k: int) -> StepRecord:
        t = pr.tally
        return cls(role=role, commit=pr.commit, subject=subject,
                   verdict=str(pr.verdict) if pr.verdict else "", term=term, runs=t.runs,
                   hits=t.hits, clean=t.clean, titles=list(t.titles),
                   other_titles=list(t.other), skip_reason=t.skip_reason,
                   build_keys=list(pr.build_keys), vmlinux_sha256=pr.vmlinux_sha256,
                   builds=pr.builds, k=k,
                   run_dirs=[str(r.get("run_dir")) for r in pr.runs if r.get("run_dir")],
                   run_outcomes=list(pr.runs))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class BisectDir:
    """One bisection's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def runs(self) -> Path:
        return self.path / RUNS

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if (self.path / STATE).exists():
            raise InvalidInput(f"{self.path} already holds a bisection; continue it with "
                               f"--resume {self.path} or choose another --out", field="--out")
        self.runs.mkdir(exist_ok=True)

    def write_state(self, inputs: Inputs, **extra: Any) -> None:
        data = {"inputs": inputs.to_json(), **extra}
        _atomic(self.path / STATE, json.dumps(data, indent=2) + "\n")

    def read_state(self) -> tuple[Inputs, dict[str, Any]]:
        path = self.path / STATE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InvalidInput("no bisection here (state.json is missing)",
                               path=str(self.path), field="--resume") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not JSON: {exc.msg}", path=str(path), line=exc.lineno) \
                from exc
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
            raise InvalidInput("no inputs object", path=str(path), field="inputs")
        return Inputs.from_json(data["inputs"], str(path)), data

    def append_step(self, rec: StepRecord) -> None:
        with open(self.path / STEPS, "a") as f:
            f.write(json.dumps(rec.to_json(), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_steps(self) -> list[StepRecord]:
        path = self.path / STEPS
        if not path.exists():
            return []
        recs = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                recs.append(StepRecord(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                if n == len(path.read_text().splitlines()):
                    break  # a line cut short by a kill: that step is run again (cached)
                raise InvalidInput(f"bad step record: {exc}", path=str(path), line=n) \
                    from exc
        return recs

    def write_log(self, text: str) -> None:
        _atomic(self.path / LOG, text)

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def write_result(self, data: dict[str, Any], text: str) -> None:
        _atomic(self.path / RESULT_JSON, json.dumps(data, indent=2) + "\n")
        _atomic(self.path / RESULT_TXT, text)


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
