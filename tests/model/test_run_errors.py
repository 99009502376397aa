"""Failures after the build that belong to the kernel under test: error inside the result,
reports written; ``pgo-orch run`` keeps its exit codes (3 for config proof / require)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.errors import BuildFailed, ConfigMismatch
from orchestrator.workflows import run as wrun
from tests.model import fakes


def _scenario(tmp_path: Path, extra: str = "") -> Path:
    sc = tmp_path / "fake.toml"
    sc.write_text(fakes.SCENARIO.replace("[profile]", extra + "[profile]"))
    return sc


def _raise(exc: Exception) -> object:
    def build(req: object) -> object:
        raise exc
    return build


def _run(tmp_path: Path, sc: Path, *extra: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "out"
    code = cli.main(["run", str(sc), "--out", str(out), *extra])
    return code, json.loads((out / "result.json").read_text())


def test_build_failure_is_error_with_first_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = fakes.install(monkeypatch, tmp_path)
    monkeypatch.setattr(wrun.kbuild, "build", _raise(BuildFailed(
        "make failed (exit 2)", first_errors="mm/x.c:1: error: boom", log="/c/build.log")))
    code, res = _run(tmp_path, _scenario(tmp_path))
    assert code == 2 and calls.boot == 0
    assert (res["verdict"], res["reason_code"]) == ("error", "build-failed")
    kernel = res["kernel"]
    assert isinstance(kernel, dict)
    assert kernel["ok"] is False and kernel["error"] == "mm/x.c:1: error: boom"
    assert kernel["log"] == "/c/build.log"
    assert capsys.readouterr().out.startswith("ERROR: fake: build-failed: make failed")
    assert (tmp_path / "out" / "junit.xml").is_file()


def test_config_mismatch_is_error_in_result_and_exit_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fakes.install(monkeypatch, tmp_path)
    monkeypatch.setattr(wrun.kbuild, "build", _raise(ConfigMismatch(
        "CONFIG_PGO_CLANG is not defined in this tree", field="options")))
    code, res = _run(tmp_path, _scenario(tmp_path))
    assert code == 3
    assert (res["verdict"], res["reason_code"], res["exit_code"]) == (
        "error", "config-mismatch", 2)
    assert res["kernel"]["ok"] is False  # type: ignore[index]
    err = capsys.readouterr().err
    assert "pgo-orch: error: options: CONFIG_PGO_CLANG is not defined in this tree" in err


def test_missing_requirement_is_error_in_result_and_exit_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = fakes.install(monkeypatch, tmp_path)
    sc = _scenario(tmp_path, '[kernel]\nrequire = ["CONFIG_KASAN=y"]\n\n')
    code, res = _run(tmp_path, sc)
    assert code == 3 and calls.boot == 0
    assert (res["verdict"], res["reason_code"]) == ("error", "requirement-missing")
    assert res["kernel"]["ok"] is True  # type: ignore[index]
    err = capsys.readouterr().err
    assert f"{sc}: kernel.require: the kernel lacks options" in err
    assert "CONFIG_KASAN=y (got n)" in err


def test_pass_output_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    fakes.install(monkeypatch, tmp_path, splat=True)
    sc = _scenario(tmp_path)
    code, res = _run(tmp_path, sc)
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == f"FAIL: fake: {fakes.SPLAT_TITLE}"
    assert out[1] == f"  sleep-in-atomic: {fakes.SPLAT_TITLE}"
    assert out[2] == f"  report: {(tmp_path / 'out').resolve() / 'report.html'}"
    code = cli.main(["run", str(sc), "--out", str(tmp_path / "o2"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["verdict"] == "fail" and summary["exit_code"] == 1
    assert summary["findings"][0]["expected"] is False
