"""Scenario files: the shipped ones load; bad ones fail with file, line and key (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.errors import ExitCode, InvalidInput
from orchestrator.paths import SCENARIOS_DIR
from orchestrator.scenario import loader


@pytest.mark.parametrize("path", sorted(SCENARIOS_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path) -> None:
    sc = loader.load(path)
    assert sc.name == path.stem
    assert sc.readers


def test_seed_scenario_shape() -> None:
    sc = loader.load("prf-open-race")
    (r,) = sc.readers
    assert r.parallel >= 2 and r.duration >= 60 and r.keep_every > 0
    assert {ld.name for ld in sc.loads} == {"stress", "reset"}
    assert "CONFIG_PGO_CLANG=y" in sc.kernel.require
    assert sc.profile.paths[0] == "/sys/kernel/debug/pgo/vmlinux.profraw"
    assert "/proc/pgo/vmlinux.profraw" in sc.profile.paths


GOOD = '''name = "t"
description = "d"

[machine]
cpus = 2

[[readers]]
name = "r"
command = "cat x"
duration = 5
'''


@pytest.mark.parametrize("text,line,field,msg", [
    (GOOD.replace("cpus = 2", "cpus = 2\nbogus = 1"), 6, "machine.bogus", "unknown key"),
    (GOOD.replace("cpus = 2", 'cpus = "two"'), 5, "machine.cpus", "must be an integer"),
    (GOOD.replace('command = "cat x"\n', ""), 7, "readers[0]", "missing required key 'command'"),
    (GOOD.replace("duration = 5", "duration = -1"), 10, "readers[0].duration",
     "must not be negative"),
    (GOOD.replace("duration = 5", "parallel = 0\nduration = 5"), 10, "readers[0].parallel",
     "must be 1..64"),
    (GOOD + '\n[[loads]]\nname = "l"\ncommand = "x"\ninterval = -2\n', 15,
     "loads[0].interval", "must not be negative"),
    (GOOD.replace('name = "t"\n', ""), None, None, "missing required key 'name'"),
    (GOOD + '\n[kernel]\noptions = ["PGO=y"]\n', 13, "kernel.options", "is not CONFIG_X"),
    (GOOD + '\n[verdict]\n[[verdict.allow]]\ntitle = "x"\n', 13, "verdict.allow[0]",
     "missing required key 'reason'"),
    (GOOD + "\n[[readers]]\nname = 'r2'\ncommand = 'x'\n", 12, "readers[1]",
     "needs a positive 'duration' or 'iterations'"),
    ("name = \n", 1, None, "not valid TOML"),
])
def test_bad_scenarios_name_file_line_key(tmp_path: Path, text: str, line: int | None,
                                          field: str | None, msg: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(InvalidInput) as exc:
        loader.load(f)
    err = exc.value
    assert err.exit_code == ExitCode.INVALID_INPUT
    assert msg in err.message
    assert err.path == str(f)
    if line is not None:
        assert err.line == line, err.message
        assert err.message.startswith(f"{f}:{line}: ")
    if field is not None:
        assert err.field == field


def test_cli_bad_scenario_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(GOOD.replace("cpus = 2", "cpus = 2\nbogus = 1"))
    assert cli.main(["run", str(f)]) == 3
    assert f"{f}:6: machine.bogus: unknown key 'bogus'" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.toml")]) == 3


def test_unknown_fragment_in_scenario_is_exit_3(tmp_path: Path, cache: Path, fake_tree: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "frag.toml"
    f.write_text(GOOD + '\n[kernel]\nfragments = ["no-such-fragment"]\n')
    code = cli.main(["run", str(f), "--tree", str(fake_tree), "--out", str(tmp_path / "o")])
    assert code == 3
    assert "unknown fragment 'no-such-fragment'" in capsys.readouterr().err
