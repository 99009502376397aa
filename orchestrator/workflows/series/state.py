"""Everything known about one series run, and what it adds up to (verdict, summary).

The workflow fills a :class:`SeriesState` as it goes; the writers in :mod:`.outputs` turn it
into files after every step, so an interrupted series still leaves a report saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ExitCode
from orchestrator.workflows.series.apply import ApplyFailure
from orchestrator.workflows.series.builds import PrefixBuild
from orchestrator.workflows.series.classify import Classified, RunRecord, classify, finding_keys
from orchestrator.workflows.series.execute import ScenarioInput
from orchestrator.workflows.series.inputs import SeriesInput


@dataclass
class SeriesState:
    out: Path
    tree: Path
    inp: SeriesInput
    base: str
    base_source: str  # "--base", "base-commit", "range"
    mode: str  # all, tip
    runs: int
    scenarios: list[ScenarioInput]
    applied: int = 0
    apply_failure: ApplyFailure | None = None
    builds: dict[int, PrefixBuild] = field(default_factory=dict)
    records: list[RunRecord] = field(default_factory=list)
    status: str = "running"  # running, done, interrupted, error
    error: str | None = None
    error_code: int = int(ExitCode.INFRA)

    def prefix_dir(self, index: int) -> Path:
        return self.out / "prefixes" / ("00-base" if index == 0 else f"{index:02d}")

    def label(self, index: int) -> str:
        return "base" if index == 0 else f"patch {index}"

    def classified(self) -> list[Classified]:
        return classify(self.records)

    def verdict(self, classified: list[Classified]) -> tuple[str, int, str]:
        """(verdict, exit code, reason) of the whole series."""
        if self.apply_failure is not None:
            f = self.apply_failure
            return ("error", int(ExitCode.INVALID_INPUT),
                    f"patch {f.number} ({f.subject}) does not apply: {f.message}")
        base = self.builds.get(0)
        if base is not None and not base.ok:
            code = ExitCode.INVALID_INPUT if base.reason == "config-mismatch" else ExitCode.INFRA
            return "error", int(code), f"the base does not build: {base.error}"
        if self.status == "interrupted":
            return "error", int(ExitCode.INFRA), "interrupted: the series did not finish"
        if self.status == "error":
            return "error", self.error_code, self.error or "infrastructure error"
        problems = []
        for i, b in sorted(self.builds.items()):
            if i and not b.ok:
                problems.append(f"patch {i} breaks the build ({b.reason})")
            if i and b.new_warnings:
                problems.append(f"patch {i} adds {len(b.new_warnings)} warning(s)")
        for c in classified:
            if c.status == "new":
                problems.append(f"patch {c.patch} introduces {c.title!r} ({c.scenario})")
        if problems:
            return "fail", int(ExitCode.KERNEL_PROBLEM), "; ".join(problems)
        errors = [r for r in self.records if r.verdict == "error"]
        if errors:
            return ("error", int(ExitCode.INFRA),
                    f"{len(errors)} run(s) ended in an infrastructure error: "
                    f"{errors[0].result.get('reason', '')}")
        notes = [f"{c.status}: {c.title!r} ({c.scenario}, {c.hits}/{c.runs} runs)"
                 for c in classified]
        return "pass", int(ExitCode.OK), "nothing new" + ("; " + "; ".join(notes) if notes
                                                          else "")

    def cell(self, index: int, scenario: str, classified: list[Classified]) -> dict[str, Any]:
        """The matrix cell of one prefix and scenario: status and hits/runs."""
        if index > self.applied:
            return {"status": "not-applied"}
        b = self.builds.get(index)
        if b is None:
            return {"status": "not-built"}
        if not b.ok:
            return {"status": "build-failure"}
        recs = [r for r in self.records if r.prefix == index and r.scenario == scenario]
        if not recs:
            return {"status": "not-run"}
        good = [r for r in recs if r.verdict != "error"]
        if not good:
            return {"status": "error", "hits": 0, "runs": 0,
                    "run_dirs": [str(r.result.get("run_dir", "")) for r in recs]}
        keys = {k for r in good for k in finding_keys(r.result)}
        status = {c.key: c.status for c in classified if c.scenario == scenario}
        found = {status.get(k, "flaky") for k in keys}
        cell_status = "pass"
        for name in ("new", "flaky", "pre-existing", "fixed"):
            if name in found:
                cell_status = "new-finding" if name == "new" else name
                break
        hits = sum(1 for r in good if finding_keys(r.result))
        return {"status": cell_status, "hits": hits, "runs": len(good),
                "titles": sorted({k.split("|", 1)[-1] for k in keys}),
                "run_dirs": [str(r.result.get("run_dir", "")) for r in recs]}

    def summary(self) -> dict[str, Any]:
        classified = self.classified()
        verdict, code, reason = self.verdict(classified)
        prefixes = []
        for i in range(len(self.inp.patches) + 1):
            patch = self.inp.patches[i - 1] if i else None
            b = self.builds.get(i)
            prefixes.append({
                "index": i,
                "number": i,
                "label": self.label(i),
                "subject": patch.subject if patch else None,
                "commit": (patch.commit if patch else self.base),
                "applied": i <= self.applied,
                "built": None if b is None else b.ok,
                "build": None if b is None else b.to_json(),
                "new_warnings": [] if b is None else b.new_warnings,
                "unverified_warnings": [] if b is None else b.unverified_warnings,
                "cells": {sc.name: self.cell(i, sc.name, classified) for sc in self.scenarios},
                "findings": [
                    {**c.to_json(), "role": ("introduced" if c.patch == i and c.status == "new"
                                             else "fixed" if c.fixed_by == i
                                             else "flaky" if c.patch == i else "seen")}
                    for c in classified
                    if i and (c.patch == i or c.fixed_by == i)
                ],
            })
        new = [c for c in classified if c.status == "new"]
        clean_from = (max(c.fixed_by or 0 for c in new)
                      if new and all(c.fixed_by is not None for c in new) else None)
        return {
            "verdict": verdict,
            # every finding the series introduced is gone from this patch on (the series ends
            # clean, but its intermediate prefixes are broken: not bisectable)
            "clean_again_at": clean_from,
            "exit_code": code,
            "reason": reason,
            "status": self.status,
            "interrupted": self.status == "interrupted",
            "mode": self.mode,
            "runs": self.runs,
            "series": {"kind": self.inp.kind, "source": self.inp.source,
                       "patchset_hash": self.inp.patchset_hash, "notes": self.inp.notes},
            "base": {"commit": self.base, "source": self.base_source},
            "scenarios": [sc.name for sc in self.scenarios],
            "apply_failure": None if self.apply_failure is None else self.apply_failure.to_json(),
            "prefixes": prefixes,
            "patches": prefixes[1:],
            "findings": [c.to_json() for c in classified],
            "run_count": len(self.records),
            "run_errors": sum(1 for r in self.records if r.verdict == "error"),
        }
