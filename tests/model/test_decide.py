"""The verdict decision on synthetic observations (no VM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.detect.detector import Finding
from orchestrator.results import ProfileCheck, Verdict
from orchestrator.scenario import loader
from orchestrator.scenario.driver import ReaderStats
from orchestrator.workflows.decide import Observations, Stop, decide

BASE = 'name = "s"\ndescription = "d"\n'


def _sc(extra: str = "") -> loader.m.Scenario:
    return loader.loads(BASE + extra, origin="test.toml")


def _f(title: str, klass: str = "warning", expected: str | None = None,
       fatal: bool = False) -> Finding:
    return Finding(klass=klass, title=title, report="r", frames=[], guilty=None,
                   corrupted=False, fatal=fatal, caller=None, first_time=None,
                   last_time=None, expected=expected)


def _readers(fail: int = 0, short: int = 0) -> list[ReaderStats]:
    return [ReaderStats("r", 0, reads=10, failures=fail, short=short)]


def test_clean_run_passes() -> None:
    d = decide(_sc(), Observations(readers=_readers()))
    assert (d.verdict, d.reason_code, d.reproduced) == (Verdict.PASS, "", None)
    assert [c.name for c in d.checks] == ["kernel: no splat", "reader r.0"]
    assert all(c.ok for c in d.checks)


def test_unexpected_finding_fails_and_beats_everything_else() -> None:
    obs = Observations(findings=[_f("WARNING in a"), _f("WARNING in b", expected="known")],
                       readers=_readers(fail=2), hang="hung", stop=Stop("ssh-x", "ssh"))
    d = decide(_sc(), obs)
    assert (d.verdict, d.reason, d.reason_code) == (Verdict.FAIL, "WARNING in a",
                                                     "kernel-finding")
    oks = {c.name: c.ok for c in d.checks}
    assert oks["kernel: WARNING in a"] is False and oks["kernel: WARNING in b"] is True


def test_fail_on_limits_classes() -> None:
    sc = _sc('[verdict]\nfail_on = ["bug"]\n')
    d = decide(sc, Observations(findings=[_f("WARNING in a")], readers=_readers()))
    assert d.verdict is Verdict.PASS


@pytest.mark.parametrize("obs,verdict,code", [
    (Observations(readers=_readers(fail=1, short=2)), Verdict.FAIL, "read-errors"),
    (Observations(profiles=[ProfileCheck("/p/x.profraw", 3, valid=False, message="bad")]),
     Verdict.FAIL, "invalid-profile"),
    (Observations(hang="CPU#1 spinning in prf_open"), Verdict.FAIL, "guest-hung"),
    (Observations(stop=Stop("profile-interface-missing", "profile-interface-missing: x")),
     Verdict.ERROR, "profile-interface-missing"),
    (Observations(readers=_readers(fail=1), hang="h"), Verdict.FAIL, "read-errors"),
    (Observations(hang="h", stop=Stop("infra", "infra: x")), Verdict.FAIL, "guest-hung"),
])
def test_precedence(obs: Observations, verdict: Verdict, code: str) -> None:
    d = decide(_sc(), obs)
    assert (d.verdict, d.reason_code) == (verdict, code)


def test_read_errors_tolerated_when_asked() -> None:
    sc = _sc("[verdict]\nfail_on_read_errors = false\n")
    d = decide(sc, Observations(readers=_readers(fail=3)))
    assert d.verdict is Verdict.PASS and all(c.ok for c in d.checks)


def test_boot_failure_with_panic_is_fail_otherwise_error() -> None:
    panic = _f("Kernel panic - not syncing: x", klass="panic", fatal=True)
    d = decide(_sc(), Observations(findings=[panic], boot_failure=("kernel-panic", "p\nq")))
    assert (d.verdict, d.reason_code) == (Verdict.FAIL, "kernel-finding")
    assert d.reason == "kernel panic during boot: Kernel panic - not syncing: x"
    d = decide(_sc(), Observations(boot_failure=("boot-timeout", "no userspace\nmore")))
    assert (d.verdict, d.reason, d.reason_code) == (Verdict.ERROR,
                                                     "boot-timeout: no userspace",
                                                     "boot-timeout")
    assert [c.name for c in d.checks] == ["boot"]


def test_kernel_bug_during_boot_fails_whatever_the_boot_failure_code() -> None:
    bug = _f("BUG: KASAN: use-after-free in prf_open", klass="bug")
    for code in ("boot-timeout", "ssh-timeout", "qemu-exited"):
        d = decide(_sc(), Observations(findings=[bug], boot_failure=(code, "m")))
        assert (d.verdict, d.reason_code) == (Verdict.FAIL, "kernel-finding"), code
        assert d.reason == "kernel bug during boot: BUG: KASAN: use-after-free in prf_open"
        assert [c.name for c in d.checks] == ["boot"]
    # an allowlisted finding, or one outside fail_on, leaves the boot failure to infra
    ok = _f("WARNING in a", expected="known")
    d = decide(_sc(), Observations(findings=[ok], boot_failure=("boot-timeout", "m")))
    assert (d.verdict, d.reason_code) == (Verdict.ERROR, "boot-timeout")
    sc = _sc('[verdict]\nfail_on = ["bug"]\n')
    d = decide(sc, Observations(findings=[_f("WARNING in a")],
                                boot_failure=("boot-timeout", "m")))
    assert (d.verdict, d.reason_code) == (Verdict.ERROR, "boot-timeout")


def test_reproduced_follows_expect_titles() -> None:
    sc = _sc('[expect]\ntitles = ["WARNING in a"]\n')
    assert decide(sc, Observations(findings=[_f("WARNING in a")])).reproduced is True
    assert decide(sc, Observations(findings=[_f("WARNING in b")])).reproduced is False
    assert decide(sc, Observations()).reproduced is False


def test_profile_checks_become_checks(tmp_path: Path) -> None:
    p = ProfileCheck(str(tmp_path / "r.0.1.profraw"), 10, valid=True, message="ok")
    d = decide(_sc(), Observations(profiles=[p, ProfileCheck("/x", 1)]))
    assert [c.name for c in d.checks if c.name.startswith("profile")] == [
        "profile r.0.1.profraw"]
