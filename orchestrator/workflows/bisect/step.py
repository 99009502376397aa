"""``pgo-orch bisect-step``: test the commit ``git bisect run`` has checked out.

git's protocol: exit 0 good, 1 bad, 125 skip (this commit cannot be tested), 128 abort the
bisection (the bisection itself cannot go on: invalid input, interruption, a runner that
fails). Skips follow :mod:`.decide`: a build failure, a config mismatch, a missing profile
interface, a different splat, or infrastructure errors beyond the retries.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

from orchestrator import ui
from orchestrator.errors import PgoOrchError
from orchestrator.job import Runner
from orchestrator.workflows.bisect.decide import Target, Verdict
from orchestrator.workflows.bisect.probe import JobTemplate, Probe, probe


class GitBisectCode(IntEnum):
    GOOD = 0
    BAD = 1
    SKIP = 125
    ABORT = 128


def exit_code_for(verdict: Verdict | None, *, fix: bool = False) -> GitBisectCode:
    """git's code for a verdict; ``fix``: the bug shows on the old side (exit 0)."""
    if verdict is Verdict.BAD:
        return GitBisectCode.GOOD if fix else GitBisectCode.BAD
    if verdict is Verdict.GOOD:
        return GitBisectCode.BAD if fix else GitBisectCode.GOOD
    return GitBisectCode.SKIP


def run_step(template: JobTemplate, commit: str, target: Target, runner: Runner, *,
             runs: int, retries: int, fix: bool = False) -> tuple[GitBisectCode, Probe | None]:
    """Test ``commit``; never raises: errors become ``ABORT`` (with a message on stderr)."""
    try:
        pr = probe(runner, template, commit, target, prefix="bisect-step", k=runs,
                   retries=retries, progress=lambda m: ui.say("bisect-step", m))
    except KeyboardInterrupt:
        ui.say("bisect-step", "interrupted: aborting the bisection (exit 128)")
        return GitBisectCode.ABORT, None
    except PgoOrchError as exc:
        ui.say("bisect-step", f"error: {exc.message}: aborting the bisection (exit 128)")
        return GitBisectCode.ABORT, None
    code = exit_code_for(pr.verdict, fix=fix)
    detail = "; ".join(pr.tally.titles or pr.tally.other) or pr.tally.skip_reason
    ui.say("bisect-step", f"{commit[:12]}: {pr.verdict} ({pr.tally.hits} hits in "
           f"{pr.tally.runs} runs{': ' + detail if detail else ''}) -> exit {int(code)}")
    return code, pr


def out_root_default(cache: Path) -> Path:
    return cache / "bisect-step"
