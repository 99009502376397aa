"""The bisection's decisions, as pure functions of run results (no git, no I/O).

* :class:`Target`: what "the bug" is: the finding keys seen on BAD, a ``--match`` regex over
  titles, the scenario's ``[expect]`` titles, or (``bisect-step`` without either) any
  unexpected finding. A failing run without findings (read errors, a corrupt profile) can be
  a target too: its key is ``verdict|<reason_code>``.
* :func:`classify`: one run result -> hit, clean, other (a different splat: not this bug),
  skip (the commit cannot be judged: build failure, config mismatch, missing profile
  interface, missing requirement), infra (retry) or abort (interrupted).
* :func:`runs_for_good`: how many clean runs make a commit good, from the hit rate ``p``
  measured on BAD and the wanted confidence: the smallest k with (1 - p)^k <= 1 - c, capped;
  :func:`p_estimate` is the p it is given: the cautious end of what BAD's runs measured.
* :class:`Tally`: the runs of one commit so far and the verdict they allow: bad at the first
  hit, good after k clean runs, skip at the first unjudgeable run or after ``retries``
  infrastructure errors in a row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.errors import InvalidInput

#: reason codes that belong to the commit: it cannot be judged, whatever is retried
SKIP_REASONS = frozenset({"build-failed", "config-mismatch", "requirement-missing",
                          "profile-interface-missing"})
ABORT_REASONS = frozenset({"interrupted"})
#: failing runs without findings that still mean "the kernel misbehaved": not clean
NO_FINDING_FAILURES = frozenset({"guest-hung"})


class Outcome(StrEnum):
    HIT = "hit"
    CLEAN = "clean"
    OTHER = "other"
    SKIP = "skip"
    INFRA = "infra"
    ABORT = "abort"


class Verdict(StrEnum):
    """A commit's verdict in the bug's sense (git's terms are chosen by the driver)."""

    BAD = "bad"  # the target shows
    GOOD = "good"  # k clean runs
    SKIP = "skip"  # cannot be judged (or a different splat)


def _unexpected(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in result.get("findings") or [] if not f.get("expected")]


def result_keys(result: Mapping[str, Any]) -> list[str]:
    """The stable keys a failing run shows: its unexpected findings' keys, or
    ``verdict|<reason_code>`` for a failure without findings."""
    keys = [str(f["key"]) for f in _unexpected(result)]
    if not keys and result.get("verdict") == "fail" and result.get("reason_code"):
        keys.append(f"verdict|{result['reason_code']}")
    return list(dict.fromkeys(keys))


def _title(key: str) -> str:
    return key.split("|", 1)[1] if "|" in key else key


@dataclass(frozen=True)
class Target:
    """What counts as the bug. Exactly one mode: ``keys``, ``pattern``, ``expect``, ``any``."""

    keys: tuple[str, ...] = ()
    pattern: str | None = None
    expect: bool = False  # the result's "reproduced" (the scenario's [expect] titles)
    any_finding: bool = False

    def __post_init__(self) -> None:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise InvalidInput(f"not a regular expression: {exc}", field="--match") \
                    from exc

    def hits(self, result: Mapping[str, Any]) -> list[str]:
        """The target titles this run shows (empty: not hit)."""
        if self.expect:
            if result.get("reproduced"):
                return [str(f.get("title")) for f in result.get("findings") or []] or \
                    ["reproduced"]
            return []
        if self.pattern is not None:
            rx = re.compile(self.pattern)
            titles = [str(f.get("title", "")) for f in result.get("findings") or []]
            return [t for t in titles if rx.search(t)]
        keys = result_keys(result)
        if self.any_finding:
            return [_title(k) for k in keys]
        return [_title(k) for k in keys if k in self.keys]

    def describe(self) -> str:
        if self.expect:
            return "the scenario's [expect] titles"
        if self.pattern is not None:
            return f"titles matching /{self.pattern}/"
        if self.any_finding:
            return "any unexpected finding"
        return "; ".join(_title(k) for k in self.keys)

    def to_json(self) -> dict[str, Any]:
        return {"keys": list(self.keys), "pattern": self.pattern, "expect": self.expect,
                "any_finding": self.any_finding, "description": self.describe()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(keys=tuple(data.get("keys") or ()), pattern=data.get("pattern"),
                   expect=bool(data.get("expect")), any_finding=bool(data.get("any_finding")))


def target_from_bad(results: Iterable[Mapping[str, Any]]) -> Target | None:
    """The keys seen on the BAD runs (in order of first appearance); None if none."""
    keys: list[str] = []
    for r in results:
        keys.extend(result_keys(r))
    keys = list(dict.fromkeys(keys))
    return Target(keys=tuple(keys)) if keys else None


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    titles: tuple[str, ...] = ()  # target titles (hit) or the other findings' titles
    reason_code: str = ""
    reason: str = ""


def classify(result: Mapping[str, Any], target: Target) -> Classified:
    """One run's outcome for this target."""
    code = str(result.get("reason_code") or "")
    reason = str(result.get("reason") or "")
    hit = target.hits(result)
    if hit:  # even a run that errored afterwards (e.g. hung after the splat) showed the bug
        return Classified(Outcome.HIT, tuple(dict.fromkeys(hit)), code, reason)
    if code in ABORT_REASONS:
        return Classified(Outcome.ABORT, (), code, reason)
    kernel = result.get("kernel") or {}
    if code in SKIP_REASONS or kernel.get("ok") is False:
        return Classified(Outcome.SKIP, (), code or "build-failed", reason)
    if result.get("verdict") == "error":
        return Classified(Outcome.INFRA, (), code or "infra", reason)
    others = [_title(k) for k in result_keys(result) if not k.startswith("verdict|")]
    if others:
        return Classified(Outcome.OTHER, tuple(others), code, reason)
    if code in NO_FINDING_FAILURES:
        return Classified(Outcome.OTHER, (code,), code, reason)
    return Classified(Outcome.CLEAN, (), code, reason)


def p_estimate(hits: int, runs: int, z: float = 1.0) -> float:
    """A cautious hit rate from ``hits`` of ``runs``: the lower end of the Wilson score
    interval (z = 1: about 84 % one-sided). The raw ratio of a few runs overstates a flaky
    bug's rate half of the time, and an overstated p gives too few runs for a good verdict
    (2 hits in 2 runs gives 0.67, 3/6 gives 0.31, 30/30 gives 0.97)."""
    if runs <= 0 or hits <= 0:
        return 0.0
    ph = hits / runs
    z2 = z * z
    centre = ph + z2 / (2 * runs)
    spread = z * math.sqrt(ph * (1 - ph) / runs + z2 / (4 * runs * runs))
    return max(0.0, (centre - spread) / (1 + z2 / runs))


def runs_for_good(p: float, confidence: float, cap: int) -> int:
    """Smallest k with (1 - p)^k <= 1 - confidence, at least 1, at most ``cap``."""
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"must be between 0 and 1 (exclusive), got {confidence}",
                           field="--confidence")
    if p >= 1.0:
        return 1
    if p <= 0.0:
        return max(1, cap)
    k = math.ceil(math.log(1.0 - confidence) / math.log(1.0 - p) - 1e-9)
    return max(1, min(cap, k))


def step_confidence(p: float, clean_runs: int) -> float:
    """Probability that ``clean_runs`` clean runs of a bad commit would have shown the bug."""
    if clean_runs <= 0:
        return 0.0
    return 1.0 - (1.0 - min(max(p, 0.0), 1.0)) ** clean_runs


@dataclass
class Tally:
    """The runs of one commit so far."""

    runs: int = 0
    hits: int = 0
    clean: int = 0
    infra_in_a_row: int = 0
    titles: list[str] = field(default_factory=list)  # target titles seen
    other: list[str] = field(default_factory=list)  # other splats seen
    skip_reason: str = ""
    aborted: bool = False

    def add(self, c: Classified) -> None:
        self.runs += 1
        if c.outcome is Outcome.HIT:
            self.hits += 1
            self.infra_in_a_row = 0
            self.titles.extend(t for t in c.titles if t not in self.titles)
        elif c.outcome is Outcome.CLEAN:
            self.clean += 1
            self.infra_in_a_row = 0
        elif c.outcome is Outcome.OTHER:
            self.infra_in_a_row = 0
            self.other.extend(t for t in c.titles if t not in self.other)
            self.skip_reason = self.skip_reason or "other-splat"
        elif c.outcome is Outcome.SKIP:
            self.skip_reason = self.skip_reason or c.reason_code
        elif c.outcome is Outcome.INFRA:
            self.infra_in_a_row += 1
        else:
            self.aborted = True

    def verdict(self, k: int, retries: int) -> Verdict | None:
        """bad at the first hit, skip when unjudgeable, good after k clean runs; None: run
        again."""
        if self.hits:
            return Verdict.BAD
        if self.skip_reason:
            return Verdict.SKIP
        if self.infra_in_a_row > retries:
            self.skip_reason = "infra"
            return Verdict.SKIP
        if self.clean >= k:
            return Verdict.GOOD
        return None
