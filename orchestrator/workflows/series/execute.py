"""Running the scenarios on the prefixes of a series, as jobs through a runner.

``--per-patch all`` runs every scenario ``runs`` times on the base and every built prefix in
one batch (a pool runs them side by side). ``tip`` runs base and tip only; a finding new at
the tip is attributed by bisecting inside the series (a prefix is tested by running it
``runs`` times). Either way, a finding first seen at patch p is confirmed by ``confirm``
reruns at p and at the tested prefix before p, before it is blamed (see :mod:`.classify`).

Jobs are idempotent by id (``attempt_tag`` run1.. / confirm1..), so a rerun of the same
series reuses finished runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import ui
from orchestrator.workflows.series.classify import (
    RunRecord,
    finding_keys,
    first_seen,
    previous_tested,
)
from orchestrator.workflows.series.seam import Job, Runner


@dataclass
class ScenarioInput:
    name: str
    text: str
    origin: str


@dataclass
class Plan:
    """What the executor needs to make jobs."""

    scenarios: list[ScenarioInput]
    commits: dict[int, str]  # built prefixes only: index -> commit
    out_roots: dict[int, Path]  # index -> <prefix dir>/runs
    tree: str
    options: tuple[str, ...] = ()
    accel: str | None = None
    jobs: int | None = None
    runs: int = 1
    confirm: int = 1


@dataclass
class Executor:
    plan: Plan
    runner: Runner
    records: list[RunRecord] = field(default_factory=list)
    #: called after every batch, so outputs are written as results arrive
    on_batch: Callable[[], None] | None = None

    def _job(self, prefix: int, sc: ScenarioInput, tag: str) -> Job:
        p = self.plan
        return Job(scenario_text=sc.text, out_root=str(p.out_roots[prefix]),
                   scenario_origin=sc.origin, tree=p.tree, rev=p.commits[prefix],
                   options=p.options, accel=p.accel, jobs=p.jobs, attempt_tag=tag)

    def run(self, wanted: list[tuple[int, ScenarioInput, str]]) -> None:
        done = {(r.prefix, r.scenario, r.tag) for r in self.records}
        todo = [w for w in wanted if (w[0], w[1].name, w[2]) not in done]
        if not todo:
            return
        ui.say("series", f"{len(todo)} run(s): " + ", ".join(
            f"{'base' if pf == 0 else f'patch {pf}'}/{sc.name}/{tag}" for pf, sc, tag in todo))
        results = self.runner([self._job(pf, sc, tag) for pf, sc, tag in todo])
        for (pf, sc, tag), res in zip(todo, results, strict=True):
            self.records.append(RunRecord(pf, sc.name, tag, res))
            ui.say("series", f"{'base' if pf == 0 else f'patch {pf}'}/{sc.name}/{tag}: "
                   f"{res.get('verdict')} {res.get('reason', '')}".rstrip())
        if self.on_batch is not None:
            self.on_batch()

    def runs_at(self, prefixes: list[int]) -> None:
        self.run([(pf, sc, f"run{i + 1}") for pf in prefixes for sc in self.plan.scenarios
                  for i in range(self.plan.runs)])

    def per_patch_all(self) -> None:
        self.runs_at(sorted(self.plan.commits))
        self.confirm_new()

    def per_patch_tip(self) -> None:
        built = sorted(self.plan.commits)
        ends = [built[0], built[-1]] if len(built) > 1 else built
        self.runs_at(ends)
        if len(ends) == 2:
            for sc in self.plan.scenarios:
                for key in self._new_keys(sc.name, ends[0], ends[1]):
                    self._bisect(sc, key, built)
        self.confirm_new()

    def _keys_at(self, scenario: str, prefix: int) -> set[str]:
        keys: set[str] = set()
        for r in self.records:
            if r.scenario == scenario and r.prefix == prefix:
                keys.update(finding_keys(r.result))
        return keys

    def _new_keys(self, scenario: str, base: int, tip: int) -> list[str]:
        return sorted(self._keys_at(scenario, tip) - self._keys_at(scenario, base))

    def _bisect(self, sc: ScenarioInput, key: str, built: list[int]) -> None:
        """Find the first built prefix showing ``key`` between base (clean) and tip."""
        lo, hi = 0, len(built) - 1  # positions in ``built``
        while hi - lo > 1:
            mid = (lo + hi) // 2
            self.run([(built[mid], sc, f"run{i + 1}") for i in range(self.plan.runs)])
            if key in self._keys_at(sc.name, built[mid]):
                hi = mid
            else:
                lo = mid
        ui.say("series", f"{sc.name}: {key.split('|', 1)[1]} first seen at patch {built[hi]}")

    def confirm_new(self) -> None:
        """Rerun where each finding not seen at the base first showed, and the prefix before."""
        wanted: list[tuple[int, ScenarioInput, str]] = []
        for sc in self.plan.scenarios:
            recs = [r for r in self.records if r.scenario == sc.name]
            base_keys = self._keys_at(sc.name, 0)
            keys = {k for r in recs for k in finding_keys(r.result)} - base_keys
            for key in sorted(keys):
                first = first_seen(recs, key)
                if first is None or first == 0:
                    continue
                prev = previous_tested(recs, first)
                for pf in (first, prev):
                    if pf is None:
                        continue
                    wanted += [(pf, sc, f"confirm{i + 1}") for i in range(self.plan.confirm)]
        unique = list({(pf, sc.name, tag): (pf, sc, tag) for pf, sc, tag in wanted}.values())
        self.run(unique)
