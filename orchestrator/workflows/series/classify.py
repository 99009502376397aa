"""Classifying findings across the prefixes of a series, by their stable key.

Pure functions over run results (the run seam's result JSON): no builds, no guests.

A run's findings are its unexpected kernel findings (``findings[].key``), plus read failures
and invalid profiles, which are findings of the profile interface (``read-errors|...``,
``invalid-profile|...``), and a failed run with none of these (e.g. a hung guest) under its
reason code. Runs whose verdict is ``error`` say nothing about the kernel: they are counted
as errors, not as runs.

For every (scenario, key), hits/runs per prefix give the class:

- ``pre-existing``: seen at the base and at the last tested prefix;
- ``fixed``: seen at the base, gone at the last tested prefix (``fixed_by``: the first patch
  after which it stayed gone);
- ``new``: not at the base, first seen at patch p, seen again in p's confirmation reruns and
  never at the tested prefix before p (``fixed_by`` when a later patch makes it go away);
- ``flaky``: not at the base, seen at p but not again on p's reruns, or seen on the previous
  prefix's reruns: reported with hits/runs, not blamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ_ERRORS_KEY = "read-errors|profile reads failed"
INVALID_PROFILE_KEY = "invalid-profile|invalid profile"


@dataclass
class RunRecord:
    """One scenario run on one prefix (``tag`` says which: run1, confirm1, ...)."""

    prefix: int
    scenario: str
    tag: str
    result: dict[str, Any]

    @property
    def verdict(self) -> str:
        return str(self.result.get("verdict", "error"))

    @property
    def confirm(self) -> bool:
        return self.tag.startswith("confirm")


@dataclass
class Occurrence:
    klass: str
    title: str
    report: str


def finding_keys(result: dict[str, Any]) -> dict[str, Occurrence]:
    """The run's findings by key (empty for a pass, and for an error run)."""
    if result.get("verdict") == "error":
        return {}
    out: dict[str, Occurrence] = {}
    for f in result.get("findings") or []:
        if f.get("expected"):
            continue
        key = str(f.get("key") or f"{f.get('class')}|{f.get('title')}")
        out.setdefault(key, Occurrence(str(f.get("class", "")), str(f.get("title", "")),
                                       str(f.get("report") or "")))
    reads = result.get("reads") or {}
    if int(reads.get("failed") or 0) or int(reads.get("short") or 0):
        out[READ_ERRORS_KEY] = Occurrence(
            "read-errors", "profile reads failed",
            f"{reads.get('failed', 0)} failed and {reads.get('short', 0)} short reads of "
            f"{reads.get('total', 0)}: {result.get('reason', '')}")
    bad = [p for p in result.get("profiles") or [] if p.get("valid") is False]
    if bad:
        out[INVALID_PROFILE_KEY] = Occurrence(
            "invalid-profile", "invalid profile",
            "\n".join(f"{p.get('file')}: {p.get('message')}" for p in bad))
    if result.get("verdict") == "fail" and not out:
        code = str(result.get("reason_code") or "fail")
        out[f"{code}|{code}"] = Occurrence(code, code, str(result.get("reason", "")))
    return out


@dataclass
class Classified:
    """One finding of one scenario across the series."""

    scenario: str
    key: str
    klass: str
    title: str
    status: str  # new, pre-existing, fixed, flaky
    patch: int | None  # new/flaky: the first patch it was seen at (0: the base)
    fixed_by: int | None
    hits: int
    runs: int
    per_prefix: dict[int, tuple[int, int]] = field(default_factory=dict)
    report: str = ""
    run_dirs: list[str] = field(default_factory=list)
    #: new/flaky: the patches that may have brought it (more than one when the prefixes in
    #: between were not tested, e.g. did not build)
    suspects: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "key": self.key, "class": self.klass,
                "title": self.title, "status": self.status, "patch": self.patch,
                "fixed_by": self.fixed_by, "hits": self.hits, "runs": self.runs,
                "per_prefix": {str(k): {"hits": h, "runs": r}
                               for k, (h, r) in sorted(self.per_prefix.items())},
                "report": self.report, "run_dirs": self.run_dirs, "suspects": self.suspects}


def _counts(records: list[RunRecord], key: str, *, confirm: bool | None = None
            ) -> dict[int, tuple[int, int]]:
    table: dict[int, tuple[int, int]] = {}
    for rec in records:
        if rec.verdict == "error" or (confirm is not None and rec.confirm != confirm):
            continue
        hits, runs = table.get(rec.prefix, (0, 0))
        table[rec.prefix] = (hits + (key in finding_keys(rec.result)), runs + 1)
    return table


def first_seen(records: list[RunRecord], key: str) -> int | None:
    """The first prefix (in the first runs, not confirmations) where ``key`` showed."""
    table = _counts(records, key, confirm=False)
    return next((p for p in sorted(table) if table[p][0]), None)


def previous_tested(records: list[RunRecord], prefix: int) -> int | None:
    """The nearest prefix before ``prefix`` that has runs."""
    tested = {r.prefix for r in records if r.verdict != "error" and r.prefix < prefix}
    return max(tested) if tested else None


def classify(records: list[RunRecord]) -> list[Classified]:
    """Every (scenario, key) seen in any run, classified (records of one series)."""
    by_scenario: dict[str, list[RunRecord]] = {}
    for rec in records:
        by_scenario.setdefault(rec.scenario, []).append(rec)
    out: list[Classified] = []
    for scenario, recs in by_scenario.items():
        occurrences: dict[str, Occurrence] = {}
        dirs: dict[str, list[str]] = {}
        for rec in recs:
            for key, occ in finding_keys(rec.result).items():
                occurrences.setdefault(key, occ)
                dirs.setdefault(key, []).append(str(rec.result.get("run_dir", "")))
        for key, occ in occurrences.items():
            out.append(_classify_key(scenario, key, occ, recs, dirs[key]))
    order = {"new": 0, "flaky": 1, "pre-existing": 2, "fixed": 3}
    out.sort(key=lambda c: (order[c.status], c.patch or 0, c.scenario, c.key))
    return out


def _classify_key(scenario: str, key: str, occ: Occurrence, recs: list[RunRecord],
                  run_dirs: list[str]) -> Classified:
    table = _counts(recs, key)
    tested = sorted(table)
    hits = sum(h for h, _ in table.values())
    runs = sum(r for _, r in table.values())
    c = Classified(scenario, key, occ.klass, occ.title, "flaky", None, None, hits, runs,
                   table, occ.report, run_dirs)
    present = [p for p in tested if table[p][0]]
    last = tested[-1]
    if 0 in present:
        c.status = "pre-existing" if last in present else "fixed"
        c.patch = 0
        if c.status == "fixed":
            c.fixed_by = next(p for p in tested if p > present[-1])
        return c
    seen = first_seen(recs, key)
    # seen only in reruns (never in the first runs): flaky whatever the reruns say
    first = seen if seen is not None else present[0]
    c.patch = first
    confirm = _counts([r for r in recs if r.prefix == first], key, confirm=True)
    prev = previous_tested(recs, first)
    confirmed = confirm.get(first, (0, 0))[0] > 0
    prev_clean = prev is None or table.get(prev, (0, 0))[0] == 0
    c.suspects = list(range((prev if prev is not None else 0) + 1, first + 1))
    if seen is not None and confirmed and prev_clean:
        c.status = "new"
        if last not in present:
            c.fixed_by = next(p for p in tested if p > present[-1])
    # hits/runs where it could show: from its first patch on (up to its fix)
    span = [p for p in tested if p >= first and (c.fixed_by is None or p < c.fixed_by)]
    c.hits = sum(table[p][0] for p in span)
    c.runs = sum(table[p][1] for p in span)
    return c
