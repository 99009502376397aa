"""Classification by stable key, on hand-made run results (no builds, no guests)."""

from __future__ import annotations

from typing import Any

from orchestrator.workflows.series.classify import (
    INVALID_PROFILE_KEY,
    READ_ERRORS_KEY,
    RunRecord,
    classify,
    finding_keys,
)

SPLAT = {"key": "bug|BUG: x in f", "class": "bug", "title": "BUG: x in f", "expected": False,
         "report": "BUG: x in f"}


def _res(*findings: dict[str, Any], verdict: str | None = None, failed: int = 0,
         invalid: bool = False) -> dict[str, Any]:
    bad = bool(findings) or failed or invalid
    return {"verdict": verdict or ("fail" if bad else "pass"), "findings": list(findings),
            "reads": {"total": 5, "failed": failed, "short": 0}, "reason": "",
            "profiles": [{"file": "p0", "valid": not invalid, "message": "header corrupt"}],
            "run_dir": "/r"}


def _only(records: list[RunRecord]) -> dict[str, Any]:
    (c,) = classify(records)
    return c.to_json()


def test_finding_keys_cover_reads_profiles_and_expected() -> None:
    expected = {**SPLAT, "key": "warning|W", "expected": True}
    keys = finding_keys(_res(SPLAT, expected, failed=2, invalid=True))
    assert set(keys) == {SPLAT["key"], READ_ERRORS_KEY, INVALID_PROFILE_KEY}
    assert finding_keys(_res(SPLAT, verdict="error")) == {}
    hung = {**_res(), "verdict": "fail", "reason_code": "guest-hung"}
    assert set(finding_keys(hung)) == {"guest-hung|guest-hung"}


def test_new_needs_the_rerun_and_a_clean_previous_prefix() -> None:
    recs = [RunRecord(0, "s", "run1", _res()), RunRecord(1, "s", "run1", _res(SPLAT)),
            RunRecord(1, "s", "confirm1", _res(SPLAT)), RunRecord(0, "s", "confirm1", _res())]
    c = _only(recs)
    assert (c["status"], c["patch"], c["hits"], c["runs"]) == ("new", 1, 2, 2)
    # the previous prefix shows it on its rerun: not this patch's doing
    recs[3] = RunRecord(0, "s", "confirm1", _res(SPLAT))
    c = _only(recs)
    assert c["status"] == "pre-existing"
    # not reproduced on the rerun: flaky
    recs[3] = RunRecord(0, "s", "confirm1", _res())
    recs[2] = RunRecord(1, "s", "confirm1", _res())
    c = _only(recs)
    assert (c["status"], c["hits"], c["runs"]) == ("flaky", 1, 2)


def test_seen_only_in_a_rerun_is_flaky() -> None:
    recs = [RunRecord(0, "s", "run1", _res()), RunRecord(1, "s", "run1", _res()),
            RunRecord(1, "s", "confirm1", _res(SPLAT))]
    assert _only(recs)["status"] == "flaky"


def test_errors_are_not_runs() -> None:
    recs = [RunRecord(0, "s", "run1", _res()), RunRecord(1, "s", "run1", _res(SPLAT)),
            RunRecord(1, "s", "confirm1", _res(SPLAT)),
            RunRecord(2, "s", "run1", _res(verdict="error"))]
    c = _only(recs)
    assert (c["status"], c["fixed_by"], c["runs"]) == ("new", None, 2)


def test_scenarios_are_kept_apart() -> None:
    recs = [RunRecord(0, "a", "run1", _res(SPLAT)), RunRecord(0, "b", "run1", _res()),
            RunRecord(1, "a", "run1", _res(SPLAT)), RunRecord(1, "b", "run1", _res(SPLAT)),
            RunRecord(1, "b", "confirm1", _res(SPLAT)), RunRecord(0, "b", "confirm1", _res())]
    by = {c.scenario: c.status for c in classify(recs)}
    assert by == {"a": "pre-existing", "b": "new"}
