"""The bisection's decisions: runs needed, run classification, per-commit verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.workflows.bisect.decide import (
    Outcome,
    Tally,
    Target,
    Verdict,
    classify,
    p_estimate,
    runs_for_good,
    step_confidence,
    target_from_bad,
)

BUG = "BUG: sleeping function called from invalid context in prf_open"


def result(verdict: str = "pass", code: str = "", titles: tuple[str, ...] = (),
           ok: bool = True, expected: bool = False, reproduced: bool | None = None,
           ) -> dict[str, Any]:
    return {"verdict": verdict, "reason_code": code, "reason": code, "reproduced": reproduced,
            "findings": [{"key": f"{t.split(':')[0]}|{t}", "class": t.split(":")[0],
                          "title": t, "expected": expected} for t in titles],
            "kernel": {"ok": ok}}


def test_runs_for_good_from_hit_rate_and_confidence() -> None:
    assert runs_for_good(0.5, 0.95, 10) == 5  # 0.5^5 = 0.031 <= 0.05 < 0.5^4
    assert runs_for_good(1.0, 0.95, 10) == 1
    assert runs_for_good(1 / 3, 0.95, 10) == 8  # (2/3)^8 = 0.039
    assert runs_for_good(2 / 3, 0.95, 10) == 3
    assert runs_for_good(0.1, 0.95, 10) == 10  # capped (would be 29)
    assert runs_for_good(0.0, 0.95, 7) == 7
    assert runs_for_good(0.5, 0.99, 10) == 7
    with pytest.raises(InvalidInput, match="--confidence"):
        runs_for_good(0.5, 1.0, 10)
    assert step_confidence(0.5, 5) == pytest.approx(0.96875)
    assert step_confidence(0.5, 0) == 0.0


def test_p_estimate_is_cautious() -> None:
    assert p_estimate(0, 5) == 0.0 and p_estimate(3, 0) == 0.0
    assert p_estimate(2, 2) == pytest.approx(2 / 3)
    assert p_estimate(3, 3) == pytest.approx(0.75)
    assert p_estimate(3, 6) == pytest.approx(0.311, abs=1e-3)
    assert p_estimate(30, 30) == pytest.approx(0.968, abs=1e-3)
    # more runs, closer to the ratio
    assert p_estimate(3, 6) < p_estimate(30, 60) < 0.5
    assert runs_for_good(p_estimate(3, 6), 0.95, 10) == 9


def test_target_is_the_keys_seen_on_bad() -> None:
    t = target_from_bad([result("fail", "kernel-finding", (BUG,)), result()])
    assert t is not None and t.keys == (f"BUG|{BUG}",)
    assert target_from_bad([result(), result()]) is None
    # a failure without findings is a target too
    rt = target_from_bad([result("fail", "read-errors")])
    assert rt is not None and rt.keys == ("verdict|read-errors",)
    assert classify(result("fail", "read-errors"), rt).outcome is Outcome.HIT
    assert classify(result(), rt).outcome is Outcome.CLEAN


def test_classify_runs() -> None:
    t = Target(keys=(f"BUG|{BUG}",))
    assert classify(result("fail", "kernel-finding", (BUG,)), t).outcome is Outcome.HIT
    # the bug showed, then the guest hung: still a hit
    assert classify(result("error", "guest-hung", (BUG,)), t).outcome is Outcome.HIT
    assert classify(result(), t).outcome is Outcome.CLEAN
    other = classify(result("fail", "kernel-finding", ("WARNING: x in y",)), t)
    assert other.outcome is Outcome.OTHER and other.titles == ("WARNING: x in y",)
    # an expected (allowlisted) finding is not another splat
    assert classify(result("pass", "", ("WARNING: x in y",), expected=True), t).outcome \
        is Outcome.CLEAN
    for code in ("build-failed", "config-mismatch", "profile-interface-missing",
                 "requirement-missing"):
        assert classify(result("error", code), t).outcome is Outcome.SKIP, code
    assert classify(result("error", "x", ok=False), t).outcome is Outcome.SKIP
    assert classify(result("error", "boot-timeout"), t).outcome is Outcome.INFRA
    assert classify(result("error", "interrupted"), t).outcome is Outcome.ABORT
    assert classify(result("error", "guest-hung"), t).outcome is Outcome.INFRA
    assert classify(result("fail", "guest-hung"), t).outcome is Outcome.OTHER
    # a failure without findings (read errors) does not hide this splat: clean for it
    assert classify(result("fail", "read-errors"), t).outcome is Outcome.CLEAN


def test_match_expect_and_any_targets() -> None:
    m = Target(pattern=r"sleeping function .* prf_open")
    assert m.hits(result("fail", "kernel-finding", (BUG, "WARNING: a in b"))) == [BUG]
    assert not m.hits(result("fail", "kernel-finding", ("WARNING: a in b",)))
    with pytest.raises(InvalidInput, match="--match"):
        Target(pattern="(")
    e = Target(expect=True)
    assert e.hits(result("fail", "kernel-finding", (BUG,), reproduced=True)) == [BUG]
    assert not e.hits(result("fail", "kernel-finding", (BUG,), reproduced=False))
    a = Target(any_finding=True)
    assert a.hits(result("fail", "kernel-finding", ("WARNING: a in b",)))
    assert not a.hits(result())
    assert Target.from_json(m.to_json()) == m


def test_tally_verdicts() -> None:
    t = Target(keys=(f"BUG|{BUG}",))
    hit, clean = result("fail", "kernel-finding", (BUG,)), result()
    tl = Tally()
    for _ in range(4):
        tl.add(classify(clean, t))
        assert tl.verdict(5, 1) is None
    tl.add(classify(clean, t))
    assert tl.verdict(5, 1) is Verdict.GOOD
    tl = Tally()
    tl.add(classify(clean, t))
    tl.add(classify(hit, t))  # bad at the first hit, whatever came before
    assert tl.verdict(5, 1) is Verdict.BAD and tl.titles == [BUG]
    tl = Tally()
    tl.add(classify(result("error", "boot-timeout"), t))
    assert tl.verdict(1, 1) is None  # one infra error is retried
    tl.add(classify(result("error", "boot-timeout"), t))
    assert tl.verdict(1, 1) is Verdict.SKIP and tl.skip_reason == "infra"
    tl = Tally()
    tl.add(classify(result("error", "build-failed", ok=False), t))
    assert tl.verdict(3, 1) is Verdict.SKIP and tl.skip_reason == "build-failed"
