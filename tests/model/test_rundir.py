"""RunDir: one run per directory, clear errors for unusable --out (exit 3 / exit 2)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from orchestrator.errors import ExitCode, InfraError, InvalidInput
from orchestrator.rundir import LOCK_NAME, RunDir


def test_two_runs_never_share_a_new_out(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    first = RunDir.create(out, "run-x")
    assert first.path == out.resolve() and (out / LOCK_NAME).is_file()
    with pytest.raises(InvalidInput) as ei:
        RunDir.create(out, "run-x")
    assert ei.value.exit_code == ExitCode.INVALID_INPUT and "another run" in str(ei.value)
    first.release()
    with pytest.raises(InvalidInput):  # a used directory stays used
        RunDir.create(out, "run-x")


def test_lock_file_race_second_claim_loses(tmp_path: Path) -> None:
    """Both runs saw the empty directory; only one creates the lock file."""
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text("1\n")  # the other run won between our check and claim
    with pytest.raises(InvalidInput):
        RunDir._claim_new(out)


def test_default_run_dirs_are_distinct(tmp_path: Path) -> None:
    a = RunDir.create(None, "run-x", base=tmp_path / "runs")
    b = RunDir.create(None, "run-x", base=tmp_path / "runs")
    assert a.path != b.path and a.path.parent == b.path.parent


def test_file_as_out_is_invalid_input(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(InvalidInput):
        RunDir.create(f, "run-x")


def test_dangling_out_is_infra_error(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing" / "target")
    with pytest.raises(InfraError) as ei:
        RunDir.create(link, "run-x")
    assert ei.value.exit_code == ExitCode.INFRA and "dangling" in ei.value.message


def test_unwritable_out_is_infra_error() -> None:
    # sysfs refuses new directories even to root (CI runs as root), unlike a chmod'ed dir
    with pytest.raises(InfraError) as ei:
        RunDir.create(Path("/sys/pgo-orch-test-run"), "run-x")
    assert ei.value.exit_code == ExitCode.INFRA
    assert "cannot create run directory" in ei.value.message


def test_job_dir_reset_keeps_lock(tmp_path: Path) -> None:
    rd = RunDir.claim_job(tmp_path / "job")
    (rd.path / "console.log").write_text("old")
    rd.profiles.mkdir()
    rd.reset()
    assert [p.name for p in rd.path.iterdir()] == [LOCK_NAME]
    rd.release()


def test_out_under_a_file_is_infra_error(tmp_path: Path) -> None:
    """Works as root too: a path component that is a file cannot hold a directory."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(InfraError) as ei:
        RunDir.create(tmp_path / "file" / "run", "run-x")
    assert "cannot create run directory" in ei.value.message


def test_write_atomic_from_threads_and_failed_write_leaves_no_temp(tmp_path: Path) -> None:
    rd = RunDir.claim_job(tmp_path / "job")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(300):
                rd.write_json(rd.result_json, {"writer": n, "i": i, "pad": "x" * 4096})
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(rd.result_json.read_text())["i"] == 299
    with pytest.raises(UnicodeEncodeError):  # fails after the temp file exists
        rd.write_atomic(rd.scenario_toml, "bad \udc80 surrogate")
    assert sorted(p.name for p in rd.path.iterdir()) == sorted([LOCK_NAME, "result.json"])
    rd.release()
