"""The verdict of one run, decided from what the run observed (a pure function, no VM).

The run workflow gathers :class:`Observations` (findings already marked ``expected`` by the
scenario's allowlist, reader statistics, profile checks, a hang summary, why the run stopped
early) and :func:`decide` turns them into a :class:`Decision`: verdict, reason text, reason
slug, the checks (JUnit test cases) and whether the scenario's ``[expect]`` was reproduced.

Order of precedence: a failing kernel finding; failed reads; invalid kept profiles; a hung
guest (all ``fail``); an early stop (``error``, with its own reason slug); else ``pass``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.detect.detector import Finding
from orchestrator.results import ProfileCheck, RunCheck, Verdict
from orchestrator.scenario.driver import ReaderStats
from orchestrator.scenario.model import Scenario


@dataclass
class Stop:
    """Why the run stopped before its end: an infrastructure problem (verdict ``error``)."""

    code: str  # reason slug, e.g. "profile-interface-missing", "ssh-timeout", "infra"
    text: str  # the reason as shown to the user


@dataclass
class Observations:
    findings: list[Finding] = field(default_factory=list)
    readers: list[ReaderStats] = field(default_factory=list)
    profiles: list[ProfileCheck] = field(default_factory=list)
    #: checks recorded while the run went (profile interface, setup commands, ...)
    checks: list[RunCheck] = field(default_factory=list)
    hang: str | None = None  # summary when the guest stopped answering
    stop: Stop | None = None
    #: (reason slug, message) when the guest did not boot
    boot_failure: tuple[str, str] | None = None


@dataclass
class Decision:
    verdict: Verdict
    reason: str
    reason_code: str
    checks: list[RunCheck]
    reproduced: bool | None


def decide(sc: Scenario, obs: Observations) -> Decision:
    reproduced = sc.reproduced_by([f.title for f in obs.findings])
    if obs.boot_failure is not None:
        return _boot_failure(sc, obs, obs.boot_failure, reproduced)
    failing = _failing(sc, obs.findings)
    checks = list(obs.checks)
    for f in obs.findings:
        checks.append(RunCheck(f"kernel: {f.title}", f not in failing,
                               f.klass + (f" (expected: {f.expected})" if f.expected else ""),
                               f.report))
    if not obs.findings:
        checks.append(RunCheck("kernel: no splat", True, "no kernel report on the console"))
    strict_reads = sc.verdict.fail_on_read_errors
    for r in obs.readers:
        msg = f"{r.reads} reads, {r.failures} failed, {r.short} short"
        if r.errors:
            msg += f" ({', '.join(r.errors)})"
        checks.append(RunCheck(f"reader {r.name}.{r.worker}",
                               not (r.failures or r.short) or not strict_reads, msg,
                               "\n".join(r.events)))
    for p in obs.profiles:
        if p.valid is not None:
            checks.append(RunCheck(f"profile {Path(p.file).name}", p.valid, p.message, p.detail))
    read_fail = [r for r in obs.readers if r.failures or r.short]
    bad_profiles = [p for p in obs.profiles if p.valid is False]

    def verdict(v: Verdict, reason: str, code: str) -> Decision:
        return Decision(v, reason, code, checks, reproduced)

    if failing:
        return verdict(Verdict.FAIL, "; ".join(f.title for f in failing), "kernel-finding")
    if read_fail and strict_reads:
        return verdict(Verdict.FAIL, f"{sum(r.failures for r in read_fail)} failed and "
                       f"{sum(r.short for r in read_fail)} short reads", "read-errors")
    if bad_profiles:
        return verdict(Verdict.FAIL, f"{len(bad_profiles)} kept profile(s) are not valid "
                       "profiles", "invalid-profile")
    if obs.hang:
        return verdict(Verdict.FAIL, obs.hang, "guest-hung")
    if obs.stop is not None:
        return verdict(Verdict.ERROR, obs.stop.text, obs.stop.code)
    return verdict(Verdict.PASS, "no unexpected finding, every read succeeded", "")


def _failing(sc: Scenario, findings: list[Finding]) -> list[Finding]:
    """The findings that fail the run: not allowlisted and of a class in ``fail_on``."""
    fail_on = set(sc.verdict.fail_on)
    return [f for f in findings
            if f.expected is None and ("*" in fail_on or f.klass in fail_on)]


def _boot_failure(sc: Scenario, obs: Observations, failure: tuple[str, str],
                  reproduced: bool | None) -> Decision:
    """A boot that died with a failing kernel report is the kernel's problem (``fail``,
    whatever the boot failure code); a boot failure without one is infrastructure."""
    code, message = failure
    checks = [*obs.checks, RunCheck("boot", False, code, message)]
    failing = _failing(sc, obs.findings)
    if failing:
        what = "kernel panic" if code == "kernel-panic" else "kernel bug"
        return Decision(Verdict.FAIL, f"{what} during boot: {failing[0].title}",
                        "kernel-finding", checks, reproduced)
    first = message.splitlines()[0] if message else ""
    return Decision(Verdict.ERROR, f"{code}: {first}", code, checks, reproduced)
