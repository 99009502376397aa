"""One bisection, start (or resume) to finish: both ends, the steps, the culprit's checks.

The loop is over the run seam only: every run is a job given to the ``runner``; git's own
bisect machinery (in a scratch worktree, :mod:`.scratch`) picks the commits; the decisions
are :mod:`.decide`'s; everything is written to the bisection directory (:mod:`.record`) as it
happens, so a killed bisection resumes from ``bisect.log`` and ``steps.jsonl`` without
running any finished step again (and a half-finished step's runs come back from the jobs'
own result files).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.errors import ExitCode, InfraError, PgoOrchError
from orchestrator.job import Runner
from orchestrator.workflows.bisect import scratch
from orchestrator.workflows.bisect.decide import (
    Outcome,
    Target,
    Verdict,
    p_estimate,
    runs_for_good,
    step_confidence,
    target_from_bad,
)
from orchestrator.workflows.bisect.probe import JobTemplate, Probe, from_results, probe, run_batch
from orchestrator.workflows.bisect.record import BisectDir, Inputs, StepRecord
from orchestrator.workflows.bisect.report import build_result, result_text


class WrongEnds(PgoOrchError):
    """An end of the range does not behave as claimed (exit 3, with what was seen)."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="wrong-ends")


@dataclass
class Session:
    inputs: Inputs
    bdir: BisectDir
    runner: Runner
    batch: int = 1

    def __post_init__(self) -> None:
        i = self.inputs
        self.tree = Path(i.tree)
        self.template = JobTemplate(scenario_text=i.scenario_text,
                                    scenario_origin=i.scenario_origin,
                                    out_root=str(self.bdir.runs), tree=i.tree,
                                    options=tuple(i.options), accel=i.accel, jobs=i.jobs)
        self.terms = scratch.FIX_TERMS if i.fix else scratch.Terms()
        self.records: list[StepRecord] = []
        self.target: Target | None = None
        self.p = 0.0
        self.k = 1
        self.t0 = time.monotonic()

    # -- helpers ---------------------------------------------------------------------------
    def say(self, msg: str) -> None:
        ui.say("bisect", msg)

    def _subject(self, commit: str) -> str:
        return scratch.subject(self.tree, commit)

    def _keep(self, role: str, pr: Probe, term: str = "") -> StepRecord:
        rec = StepRecord.of(role, pr, self._subject(pr.commit), term, self.k)
        self.bdir.append_step(rec)
        self.records.append(rec)
        return rec

    def _find(self, role: str) -> StepRecord | None:
        return next((r for r in self.records if r.role == role), None)

    def _probe(self, commit: str, prefix: str) -> Probe:
        assert self.target is not None
        return probe(self.runner, self.template, commit, self.target, prefix=prefix,
                     k=self.k, retries=self.inputs.retries, batch=self.batch,
                     progress=self.say)

    @property
    def bug_end(self) -> str:
        """The end where the bug shows (``--bad``; the older end in a fix bisection)."""
        return self.inputs.bad

    # -- the phases ------------------------------------------------------------------------
    def check_ends(self, state: dict[str, Any]) -> None:
        i = self.inputs
        if "target" in state:  # resumed after the ends were checked
            self.target = Target.from_json(state["target"])
            self.p, self.k = float(state["p"]), int(state["k"])
            return
        self.say(f"checking BAD {i.bad[:12]} ({i.runs} runs) for the hit rate")
        results = run_batch(self.runner, self.template, i.bad, "end-bad", 0, i.runs)
        target = Target(pattern=i.match) if i.match else target_from_bad(results)
        pr = from_results(i.bad, results, target or Target(keys=("-",)))
        if any(r["outcome"] == Outcome.ABORT for r in pr.runs):
            raise KeyboardInterrupt
        self.target = target
        infra = sum(1 for r in pr.runs if r["outcome"] == Outcome.INFRA)
        judged = pr.tally.runs - infra
        self.p = p_estimate(pr.tally.hits, judged)
        self.k = runs_for_good(self.p, i.confidence, i.max_runs)
        pr.verdict = Verdict.BAD if pr.tally.hits else None
        self._keep("end-bad", pr)
        if not pr.tally.hits:
            seen = _seen(pr)
            if infra == pr.tally.runs:
                raise InfraError(f"BAD {i.bad_rev} could not be run: {seen}", reason="infra")
            what = f"the target ({target.describe()})" if target else "any finding"
            raise WrongEnds(f"BAD {i.bad_rev} ({i.bad[:12]}) did not show {what} in "
                            f"{i.runs} runs: {seen}")
        assert target is not None
        self.say(f"target: {target.describe()}; hit rate {pr.tally.hits}/{judged} (p taken "
                 f"as {self.p:.2f}); a good verdict takes {self.k} clean run(s) (confidence "
                 f"{i.confidence})")
        self.say(f"checking GOOD {i.good[:12]} ({self.k} clean runs needed)")
        g = self._probe(i.good, "end-good")
        self._keep("end-good", g)
        if g.verdict is not Verdict.GOOD:
            if g.tally.skip_reason == "infra":
                raise InfraError(f"GOOD {i.good_rev} could not be run: {_seen(g)}",
                                 reason="infra")
            hint = ""
            if not i.match and len(target.keys) > 1 and g.tally.titles:
                rest = [t for t in (k.split("|", 1)[-1] for k in target.keys)
                        if t not in g.tally.titles]
                if rest:
                    hint = (f" (GOOD shows some of BAD's findings too; to bisect the others "
                            f"use --match, e.g. --match {_literal(rest[0])!r})")
            raise WrongEnds(f"GOOD {i.good_rev} ({i.good[:12]}) is not clean: {_seen(g)}"
                            + hint)
        self.bdir.write_state(i, target=target.to_json(), p=self.p, k=self.k)

    def bisect(self, resume: bool) -> scratch.State:
        i = self.inputs
        old, new = (i.bad, i.good) if i.fix else (i.good, i.bad)
        sb = scratch.ScratchBisect(self.tree, scratch.worktree_for(self.tree, self.bdir.path),
                                   self.terms)
        sb.create(at=new)
        try:
            if resume and self.bdir.log_path.exists():
                state = sb.replay(self.bdir.log_path)
            else:
                state = sb.start(new, old)
            marked = sb.marked()
            for rec in self.records:  # recorded but killed before git heard of it
                if rec.role == "step" and rec.commit not in marked:
                    state = sb.mark(rec.commit, rec.term)
            self.bdir.write_log(sb.log())
            n = sum(1 for r in self.records if r.role == "step")
            while not state.done:
                commit = state.next_commit
                assert commit is not None
                n += 1
                self.say(f"step {n}: {commit[:12]} {self._subject(commit)}  "
                         f"({state.remaining.removeprefix('Bisecting: ')})")
                pr = self._probe(commit, "step")
                term = self._term(pr.verdict)
                self._keep("step", pr, term)
                state = sb.mark(commit, term)
                self.bdir.write_log(sb.log())
                self.say(f"step {n}: {commit[:12]} is {pr.verdict} ({pr.tally.hits} hits in "
                         f"{pr.tally.runs} runs)")
            self.log_text = sb.log()
            return state
        finally:
            sb.remove()

    def _term(self, v: Verdict | None) -> str:
        if v is Verdict.BAD:
            return self.terms.old if self.inputs.fix else self.terms.new
        if v is Verdict.GOOD:
            return self.terms.new if self.inputs.fix else self.terms.old
        return "skip"

    def verify(self, culprit: str) -> dict[str, Any]:
        """Rerun the culprit and its parent; in a fix bisection the roles swap."""
        parent = scratch.parent(self.tree, culprit)
        if parent is None:
            return {"ok": False, "why": "the culprit has no parent"}
        want_c, want_p = (Verdict.GOOD, Verdict.BAD) if self.inputs.fix else \
            (Verdict.BAD, Verdict.GOOD)
        self.say(f"verifying: {culprit[:12]} must be {want_c}, its parent {parent[:12]} "
                 f"{want_p}")
        c = self._find_or_probe("verify-culprit", culprit)
        p = self._find_or_probe("verify-parent", parent)
        noop = bool(c.vmlinux_sha256 and c.vmlinux_sha256 == p.vmlinux_sha256)
        why = []
        if c.verdict != want_c:
            why.append(f"the culprit was {c.verdict or 'not judged'} on rerun "
                       f"({c.hits} hits in {c.runs} runs), not {want_c}")
        if p.verdict != want_p:
            why.append(f"its parent was {p.verdict or 'not judged'} on rerun ({p.hits} hits "
                       f"in {p.runs} runs), not {want_p}")
        if noop:
            why.append("the culprit's vmlinux is identical to its parent's (a no-op change: "
                       "it cannot change the kernel's behaviour)")
        return {"ok": not why, "why": "; ".join(why), "noop": noop, "parent": parent,
                "culprit_check": c.to_json(), "parent_check": p.to_json()}

    def _find_or_probe(self, role: str, commit: str) -> StepRecord:
        rec = next((r for r in self.records if r.role == role and r.commit == commit), None)
        return rec or self._keep(role, self._probe(commit, "verify"))

    def confidence(self) -> float:
        conf = 1.0
        for r in self.records:
            if r.role == "step" and r.verdict == Verdict.GOOD:
                conf *= step_confidence(self.p, r.clean)
        return conf


def _literal(title: str) -> str:
    """A regex matching ``title`` literally (spaces left readable)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", title)


def _latest(recs: list[StepRecord]) -> list[StepRecord]:
    """One record per (role, commit): the last one written."""
    last = {(r.role, r.commit): r for r in recs}
    return [r for r in recs if last[(r.role, r.commit)] is r]


def _seen(pr: Probe) -> str:
    """What the runs of one commit showed, for an error message."""
    parts = []
    for r in pr.runs:
        bits = [r["outcome"]]
        if r["titles"]:
            bits.append("; ".join(r["titles"]))
        if r["reason_code"] and r["outcome"] != "hit":
            bits.append(f"{r['reason_code']}: {r['reason'][:160]}")
        parts.append(" - ".join(bits) + f" ({r['run_dir']})")
    return "; ".join(parts) or "no runs"


def run(inputs: Inputs, bdir: BisectDir, runner: Runner, *, resume: bool = False,
        batch: int = 1) -> dict[str, Any]:
    """Bisect (or resume) into ``bdir``; returns result.json's content (also written).
    Exit code in ``["exit_code"]``. Interruption and infrastructure errors leave a result
    saying so and propagate."""
    s = Session(inputs, bdir, runner, batch=batch)
    state_data: dict[str, Any] = {}
    if resume:
        _, state_data = bdir.read_state()
        s.records = _latest(bdir.read_steps())
        if "target" not in state_data:  # killed while checking the ends: check them again
            s.records = [r for r in s.records if not r.role.startswith("end-")]
    else:
        bdir.create()
        bdir.write_state(inputs)
    status, reason, state, checks = "running", "", None, None
    try:
        s.check_ends(state_data)
        state = s.bisect(resume)
        if state.first:
            checks = s.verify(state.first)
            status = "found" if checks["ok"] else "unverified"
            reason = "" if checks["ok"] else f"verification failed: {checks['why']}"
        else:
            status = "range"
            reason = (f"only skipped commits are left: the first {s.terms.new} commit is one "
                      f"of {len(state.candidates)}")
    except WrongEnds as exc:
        status, reason = "wrong-ends", exc.message
    except KeyboardInterrupt:
        _finish(s, "interrupted", f"interrupted; continue with --resume {bdir.path}", state,
                checks)
        raise
    except PgoOrchError as exc:
        _finish(s, "error", exc.message, state, checks, exit_code=int(exc.exit_code))
        raise
    return _finish(s, status, reason, state, checks)


def _finish(s: Session, status: str, reason: str, state: scratch.State | None,
            checks: dict[str, Any] | None, exit_code: int | None = None) -> dict[str, Any]:
    codes = {"found": 0, "unverified": 1, "range": 1, "wrong-ends": 3, "interrupted": 2,
             "error": 2}
    code = exit_code if exit_code is not None else codes.get(status, 2)
    log = getattr(s, "log_text", "")
    if not log and s.bdir.log_path.exists():
        log = s.bdir.log_path.read_text()
    data = build_result(
        s.inputs, s.records, status=status, reason=reason, exit_code=code,
        target=s.target, p=s.p, k=s.k, confidence=s.confidence(), terms=s.terms,
        first=state.first if state else None,
        candidates=state.candidates if state else [], checks=checks, bisect_log=log,
        subjects={c: s._subject(c) for c in (state.candidates if state else [])},
        duration_s=round(time.monotonic() - s.t0, 1))
    s.bdir.write_result(data, result_text(data))
    return data
