"""The series workflow: read, apply, build every prefix, run, classify, write.

Bad input (no patches, corrupt mbox, no base, unknown scenario) is refused before anything
is applied or written (exit 3). From then on every step updates the series directory, so an
interrupted or failing series still leaves series.json, summary.json and report.html saying
how far it got.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.errors import InvalidInput, PgoOrchError
from orchestrator.git import is_repository, resolve_commit
from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults, worktree
from orchestrator.kernel.tree import check_tree
from orchestrator.scenario import loader
from orchestrator.workflows.run import RunOptions, build_request
from orchestrator.workflows.series import outputs
from orchestrator.workflows.series.apply import apply_patches, scratch_worktree
from orchestrator.workflows.series.builds import WarningTracker, build_prefix
from orchestrator.workflows.series.execute import Executor, Plan, ScenarioInput
from orchestrator.workflows.series.inputs import SeriesInput, read_series
from orchestrator.workflows.series.seam import Runner
from orchestrator.workflows.series.state import SeriesState

DEFAULT_SCENARIO = "prf-open-race"
#: held (flock) in the series directory while a series writes it
LOCK_NAME = ".pgo-orch-series.lock"


@dataclass
class SeriesOptions:
    series: str
    out: Path
    tree: Path | None = None
    base: str | None = None
    scenarios: list[str] = field(default_factory=list)
    runs: int = 1
    confirm: int | None = None  # reruns to confirm a new finding (default: runs)
    per_patch: str = "all"
    options: list[str] = field(default_factory=list)
    accel: str | None = None
    jobs: int | None = None
    kcidb: Path | None = None


@dataclass
class SeriesOutcome:
    exit_code: int
    summary: dict[str, Any]
    out: Path


def _scenarios(specs: list[str]) -> tuple[list[ScenarioInput], list[Any]]:
    inputs: list[ScenarioInput] = []
    loaded: list[Any] = []
    for spec in specs or [DEFAULT_SCENARIO]:
        sc = loader.load(spec)
        path = loader.resolve_path(spec)
        if any(s.name == sc.name for s in inputs):
            raise InvalidInput(f"scenario {sc.name!r} given twice", field="-s")
        inputs.append(ScenarioInput(sc.name, path.read_text(), str(path)))
        loaded.append(sc)
    return inputs, loaded


def _base(opts: SeriesOptions, tree: Path, inp: SeriesInput) -> tuple[str, str]:
    if inp.kind == "range":
        assert inp.base_hint is not None
        if opts.base and resolve_commit(tree, opts.base, field="--base") != inp.base_hint:
            raise InvalidInput("--base differs from the range's BASE", field="--base")
        return inp.base_hint, "range"
    if opts.base:
        return resolve_commit(tree, opts.base, field="--base"), "--base"
    if inp.base_hint:
        try:
            return resolve_commit(tree, inp.base_hint, field="base-commit"), "base-commit"
        except InvalidInput as exc:
            raise InvalidInput(f"the series' base-commit {inp.base_hint} is not a commit in "
                               f"{tree}; pass --base REV", path=inp.source,
                               field="base-commit", reason="unknown-base") from exc
    raise InvalidInput("the series names no base (no 'base-commit:' line); pass --base REV",
                       path=inp.source, field="--base", reason="no-base")


def run_series(opts: SeriesOptions, runner: Runner) -> SeriesOutcome:
    if opts.per_patch not in ("all", "tip"):
        raise InvalidInput(f"{opts.per_patch!r}: must be all or tip", field="--per-patch")
    if opts.runs < 1:
        raise InvalidInput(f"{opts.runs}: must be at least 1", field="--runs")
    if opts.confirm is not None and opts.confirm < 1:
        raise InvalidInput(f"{opts.confirm}: must be at least 1", field="--confirm")
    if opts.jobs is not None and opts.jobs < 1:
        raise InvalidInput(f"{opts.jobs}: must be at least 1", field="--jobs")
    scenarios, loaded = _scenarios(opts.scenarios)
    tree = check_tree(opts.tree) if opts.tree is not None else defaults.default_tree()
    if not is_repository(tree):
        raise InvalidInput(f"{tree} is not a git repository; a series needs one",
                           field="--tree", reason="not-a-repository")
    requests = _requests(loaded, tree, opts)
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with _claim(out):
        return _run_claimed(opts, runner, scenarios, tree, requests, out)


@contextlib.contextmanager
def _claim(out: Path) -> Iterator[None]:
    """Hold the series directory for this series alone (an exclusive lock, never waited
    for): two series writing one directory would delete each other's patches."""
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInput(f"{out} is in use by another pgo-orch series; choose another "
                               "--out", path=str(out), field="--out",
                               reason="series-busy") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _run_claimed(opts: SeriesOptions, runner: Runner, scenarios: list[ScenarioInput],
                 tree: Path, requests: list[kbuild.BuildRequest], out: Path) -> SeriesOutcome:
    inp = read_series(opts.series, tree, out)
    base, base_source = _base(opts, tree, inp)
    state = SeriesState(out, tree, inp, base, base_source, opts.per_patch, opts.runs,
                        scenarios)
    ui.say("series", f"{len(inp.patches)} patch(es) ({inp.kind}) on {base[:12]} "
           f"(from {base_source}); output in {out}")
    try:
        _steps(state, opts, requests, runner)
        state.status = "done"
    except KeyboardInterrupt:
        state.status = "interrupted"
        outputs.write_all(state, opts.kcidb)
        raise
    except PgoOrchError as exc:
        state.status, state.error, state.error_code = "error", exc.message, int(exc.exit_code)
    summary = outputs.write_all(state, opts.kcidb)
    return SeriesOutcome(int(summary["exit_code"]), summary, out)


def _requests(loaded: list[Any], tree: Path, opts: SeriesOptions) -> list[kbuild.BuildRequest]:
    """One build request per distinct kernel the scenarios ask for (usually one)."""
    seen: dict[tuple[str, tuple[str, ...], tuple[str, ...]], kbuild.BuildRequest] = {}
    for sc in loaded:
        req = build_request(sc, RunOptions(tree=tree, jobs=opts.jobs,
                                           extra_options=list(opts.options)))
        seen.setdefault((req.base_config, tuple(req.fragments), tuple(req.options)), req)
    return list(seen.values())


def _write(state: SeriesState) -> None:
    outputs.write_all(state)


def _steps(state: SeriesState, opts: SeriesOptions, requests: list[kbuild.BuildRequest],
           runner: Runner) -> None:
    inp = state.inp
    if inp.kind == "range":
        state.applied = len(inp.patches)
    else:
        with open(state.out / "apply.log", "w") as log, \
                scratch_worktree(state.tree, state.base) as wt:
            ref = f"refs/pgo-orch/series/{inp.patchset_hash[:16]}"
            state.apply_failure = apply_patches(state.tree, wt, inp.patches, ref, log)
            state.applied = sum(1 for p in inp.patches if p.commit)
    outputs.write_all(state)
    if state.apply_failure is not None:
        f = state.apply_failure
        ui.say("series", f"patch {f.number} ({f.subject}) does not apply: {f.message}")
        return
    with contextlib.ExitStack() as leases:  # every prefix's kernel stays until its runs
        _build_and_run(state, opts, requests, runner, leases)


def _build_and_run(state: SeriesState, opts: SeriesOptions,
                   requests: list[kbuild.BuildRequest], runner: Runner,
                   leases: contextlib.ExitStack) -> None:
    inp = state.inp
    commits = {0: state.base, **{p.number: p.commit for p in inp.patches if p.commit}}
    tracker = WarningTracker((str(worktree.path_for(state.tree)), str(state.tree)))
    for index, commit in commits.items():
        ui.say("series", f"building {state.label(index)} ({commit[:12]})")
        results = [build_prefix(index, commit, req, leases) for req in requests]
        first = next((b for b in results if not b.ok), results[0])
        tracker.observe(results[0], baseline=index == 0)
        if first is not results[0]:
            first.new_warnings = results[0].new_warnings
            first.unverified_warnings = results[0].unverified_warnings
        state.builds[index] = first
        outputs.write_all(state)
        if index == 0 and not first.ok:
            ui.say("series", f"the base does not build: {first.error}")
            return
        if not first.ok:
            ui.say("series", f"patch {index} breaks the build: {first.error}")
    built = {i: c for i, c in commits.items() if state.builds[i].ok}
    for i in built:
        (state.prefix_dir(i) / "runs").mkdir(parents=True, exist_ok=True)
    plan = Plan(state.scenarios, built,
                {i: state.prefix_dir(i) / "runs" for i in built}, str(state.tree),
                tuple(opts.options), opts.accel, opts.jobs, opts.runs,
                opts.confirm if opts.confirm is not None else opts.runs)
    executor = Executor(plan, runner, state.records,
                        on_batch=lambda: _write(state))
    if opts.per_patch == "all":
        executor.per_patch_all()
    else:
        executor.per_patch_tip()

