"""Config inputs that are not text (issue 9 item 15): exit 3 naming the file, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import cli


@pytest.mark.parametrize("option", ["-f", "--config"])
def test_non_utf8_fragment_or_base_config_is_exit_3(
    cache: Path, fake_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    option: str,
) -> None:
    bad = tmp_path / "latin1.config"
    bad.write_bytes(b"CONFIG_DEBUG_KERNEL=y\n# caf\xe9\nCONFIG_DEBUG_FS=y\n")
    code = cli.main(["build", "--tree", str(fake_tree), option, str(bad)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"{bad}:2: " in err and "not UTF-8" in err and "0xe9" in err
    assert "Traceback" not in err and "internal error" not in err
