"""``pgo-orch run A B C --repeat N``: jobs, per-run verdicts, the worst exit code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.commands import run_many
from orchestrator.pool.host import Host
from orchestrator.pool.local import LocalPool
from orchestrator.pool.slots import SlotBook
from tests.pool.fakes import FakeRun, scenario


def _files(tmp_path: Path, names: list[str]) -> list[str]:
    out = []
    for n in names:
        f = tmp_path / f"{n}.toml"
        f.write_text(scenario(n))
        out.append(str(f))
    return out


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeRun:
    run = FakeRun(0.1, results={
        "bad": {"verdict": "fail", "exit_code": 1, "reason": "BUG: x",
                "findings": [{"key": "k", "class": "bug", "title": "BUG: x"}]},
        "broken": {"verdict": "error", "exit_code": 2, "reason_code": "qemu-failed"},
        "needy": {"verdict": "error", "exit_code": 2, "reason_code": "requirement-missing"}})

    def runner(args: argparse.Namespace) -> LocalPool:
        assert args.slots == 2
        return LocalPool(args.slots, run_one=run, build_one=None,
                         book=SlotBook(tmp_path / "pool", Host(2, 8192)))
    monkeypatch.setattr(run_many, "runner_from_args", runner)
    return run


@pytest.mark.parametrize("names,code", [
    (["a", "b"], 0), (["a", "bad", "b"], 1), (["bad", "broken"], 2), (["a", "needy"], 3)])
def test_worst_exit_code_and_one_verdict_per_run(
        tmp_path: Path, fake: FakeRun, capsys: pytest.CaptureFixture[str],
        names: list[str], code: int) -> None:
    out = tmp_path / "batch"
    assert cli.main(["run", *_files(tmp_path, names), "--slots", "2", "--out", str(out)]) == code
    text = capsys.readouterr().out
    for n in names:
        assert f": {tmp_path / n}.toml" in text or f": {n}:" in text
    assert f"{len(names)} runs:" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == code and len(summary["runs"]) == len(names)


def test_repeat_makes_distinct_runs(tmp_path: Path, fake: FakeRun,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "batch"
    assert cli.main(["run", *_files(tmp_path, ["a", "b"]), "--repeat", "3", "--slots", "2",
                     "--out", str(out), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert len(runs) == 6 and len({r["job_id"] for r in runs}) == 6
    assert [r["attempt_tag"] for r in runs] == ["", "repeat-1", "repeat-2"] * 2
    assert len(fake.calls) == 6 and fake.max_running == 2
    assert all(Path(r["run_dir"]).parent == out.resolve() for r in runs)


def test_a_bad_scenario_stops_before_any_run(tmp_path: Path, fake: FakeRun,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text('name = "x"\nnope = 1\n')
    files = _files(tmp_path, ["a"])
    assert cli.main(["run", *files, str(bad), "--slots", "2"]) == 3
    assert "x.toml" in capsys.readouterr().err and fake.calls == []


def test_single_run_is_not_a_batch() -> None:
    ns = argparse.Namespace(scenario=["a"], repeat=1, engine="local", slots=None)
    assert not run_many.is_batch(ns)
    for change in ({"scenario": ["a", "b"]}, {"repeat": 2}, {"engine": "dask"}, {"slots": 1}):
        assert run_many.is_batch(argparse.Namespace(**{**vars(ns), **change}))
