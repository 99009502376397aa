"""Scenarios from text and dicts: same precise errors, round trip, [expect], hostile values."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.errors import ExitCode, InvalidInput
from orchestrator.paths import SCENARIOS_DIR
from orchestrator.scenario import loader
from tests.scenario.test_loader import GOOD  # the same minimal scenario as the file tests


def test_loads_names_origin_line_and_key() -> None:
    with pytest.raises(InvalidInput) as ei:
        loader.loads(GOOD.replace("cpus = 2", 'cpus = "two"'), origin="mail:1234")
    assert ei.value.message.startswith("mail:1234:5: machine.cpus: must be an integer")


@pytest.mark.parametrize("path", sorted(SCENARIOS_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_round_trip(path: Path) -> None:
    sc = loader.load(path)
    assert sc.source_text == path.read_text()
    again = loader.from_dict(sc.to_json(), origin="dict")
    assert again.to_json() == sc.to_json()
    assert again.readers == sc.readers and again.verdict == sc.verdict
    assert loader.loads(sc.source_text, origin=str(path)).to_json() == sc.to_json()


def test_expect_table() -> None:
    sc = loader.loads(GOOD + '\n[expect]\ntitles = ["BUG: x in prf_open"]\n', origin="o")
    assert sc.expect is not None and sc.expect.titles == ["BUG: x in prf_open"]
    assert sc.reproduced_by(["BUG: x in prf_open", "other"]) is True
    assert sc.reproduced_by([]) is False
    assert loader.loads(GOOD, origin="o").reproduced_by(["x"]) is None
    assert loader.from_dict(sc.to_json(), origin="d").expect == sc.expect
    with pytest.raises(InvalidInput, match="expect.titles"):
        loader.loads(GOOD + "\n[expect]\ntitles = []\n", origin="o")


@pytest.mark.parametrize("old,new,field,msg", [
    ("duration = 5", "duration = nan", "readers[0].duration", "finite"),
    ("duration = 5", "duration = inf", "readers[0].duration", "finite"),
    ("duration = 5", "duration = 1e9", "readers[0].duration", "at most"),
    ("cpus = 2", "cpus = 2\nboot_timeout = nan", "machine.boot_timeout", "finite"),
    ("cpus = 2", "cpus = 2\nssh_timeout = -inf", "machine.ssh_timeout", "finite"),
    ("cpus = 2", "cpus = 2\nsetup_timeout = 1e12", "machine.setup_timeout", "at most"),
    ("cpus = 2", "cpus = 99999999999999999", "machine.cpus", "1..64"),
    ("cpus = 2", "memory_mb = 1e3", "machine.memory_mb", "must be an integer"),
    ("duration = 5", "duration = 5\niterations = 99999999999999", "readers[0].iterations",
     "at most"),
])
def test_non_finite_and_huge_numbers_rejected(old: str, new: str, field: str,
                                              msg: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        loader.loads(GOOD.replace(old, new), origin="s.toml")
    assert ei.value.field == field and msg in ei.value.message


def test_settle_bounds() -> None:
    for v in ("inf", "nan", "1e6"):
        with pytest.raises(InvalidInput) as ei:
            loader.loads(GOOD + f"\n[verdict]\nsettle = {v}\n", origin="s.toml")
        assert ei.value.field == "verdict.settle"


@pytest.mark.parametrize("text,field", [
    (GOOD.replace('name = "t"', 'name = "t\\n"'), "name"),
    (GOOD.replace('name = "r"', 'name = "r\\n"'), "readers[0].name"),
    (GOOD + '\n[kernel]\noptions = ["CONFIG_A=y\\n"]\n', "kernel.options"),
])
def test_names_must_match_fully(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        loader.loads(text, origin="s.toml")
    assert ei.value.field == field


@pytest.mark.parametrize("top,extra,field", [
    ("", "\n[verdict]\nallow = [1]\n", "verdict.allow"),
    ("", '\n[verdict]\nallow = "x"\n', "verdict.allow"),
    ("readers = 3\n", "", "readers"),
    ("", "\n[expect]\ntitles = [1]\n", "expect.titles"),
    ('expect = "x"\n', "", "expect"),
    ("", "\n[verdict]\nfail_on = [1]\n", "verdict.fail_on"),
])
def test_wrong_shapes_are_invalid_input(top: str, extra: str, field: str) -> None:
    text = 'name = "t"\ndescription = "d"\n' + top if top else GOOD + extra
    with pytest.raises(InvalidInput) as ei:
        loader.loads(text, origin="s.toml")
    assert ei.value.field == field and ei.value.message.startswith("s.toml:")


def test_non_utf8_scenario_file_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "latin1.toml"
    f.write_bytes(GOOD.encode() + b'\n# caf\xe9\n')
    with pytest.raises(InvalidInput) as ei:
        loader.load(f)
    assert ei.value.path == str(f) and ei.value.line == 12
    assert "not UTF-8" in ei.value.message


@pytest.mark.parametrize("content", [b'name = "t"\n\xff\xfe', None])
def test_cli_bad_scenarios_exit_3_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None) -> None:
    f = tmp_path / "bad.toml"
    f.write_bytes(content if content is not None else
                  (GOOD + "\n[verdict]\nallow = [1]\n").encode())
    code = cli.main(["run", str(f), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == ExitCode.INVALID_INPUT and str(f) in err and "Traceback" not in err


def test_usage_errors_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        cli.main(["run"])
    assert ei.value.code == 3 and "usage:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ei:
        cli.main(["run", "x", "--accel", "bogus"])
    assert ei.value.code == 3
