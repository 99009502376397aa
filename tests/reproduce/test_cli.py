"""``pgo-orch reproduce`` on the command line: exit codes and messages, never a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from orchestrator.cli import main
from tests.reproduce.conftest import MAILS


@pytest.mark.parametrize(("name", "words"), [
    ("html-only.eml", "only an HTML body"),
    ("no-trace.eml", "no kernel report"),
    ("arm64.eml", "arm64 kernel"),
    ("quoted-fragment.eml", "only a fragment"),
])
def test_unusable_mail_exits_3(name: str, words: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reproduce", str(MAILS / name), "--write-only", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3
    assert words in err and "Traceback" not in err


def test_missing_mail_and_bad_runs_exit_3(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", str(tmp_path / "nope.eml")]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert main(["reproduce", str(MAILS / "seed-qp.eml"), "--runs", "0"]) == 3
    assert "--runs" in capsys.readouterr().err


def test_stdin_write_only_json(tmp_path: Path, fake_tree: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    data = (MAILS / "seed-base64.eml").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code = main(["reproduce", "-", "--tree", str(fake_tree), "--write-only", "--json",
                 "--out", str(tmp_path / "o")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "written"
    assert out["extracted"]["reports"][0]["where"].startswith("<stdin>: message 1")
    assert (tmp_path / "o" / "scenario.toml").is_file()


def test_rev_on_a_plain_directory_is_invalid(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    code = main(["reproduce", str(MAILS / "seed-qp.eml"), "--tree", str(plain), "--rev", "x",
                 "--write-only", "--out", str(tmp_path / "o")])
    assert code == 3 and "not a git repository" in capsys.readouterr().err
