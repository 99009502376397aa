from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ExitCode, InvalidInput
from orchestrator.kernel import fragments as fr


def test_parse_fragment_requests(tmp_path: Path) -> None:
    f = tmp_path / "frag"
    f.write_text(
        '# comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\n'
        "CONFIG_D=0x10\nCONFIG_E=-3\n"
    )
    frag = fr.parse_fragment(f)
    assert [(r.symbol, r.value) for r in frag.requests] == [
        ("CONFIG_A", "y"),
        ("CONFIG_B", "n"),
        ("CONFIG_C", '"x y"'),
        ("CONFIG_D", "0x10"),
        ("CONFIG_E", "-3"),
    ]
    assert frag.requests[0].source == f"{f}:3"


@pytest.mark.parametrize(
    "line",
    [
        "CONFIG_A = y",
        "A=y",
        "CONFIG_A=yes",
        "#CONFIG_A=y",
        "# CONFIG_A is set",
        'CONFIG_A="unterminated',
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    f = tmp_path / "frag"
    f.write_text(f"CONFIG_OK=y\n{line}\n")
    with pytest.raises(InvalidInput) as exc:
        fr.parse_fragment(f)
    assert exc.value.exit_code == ExitCode.INVALID_INPUT
    assert f"{f}:2:" in exc.value.message


def test_unknown_fragment_lists_known(tmp_path: Path) -> None:
    (tmp_path / "base").write_text("CONFIG_A=y\n")
    with pytest.raises(InvalidInput, match=r"unknown fragment 'nope'.*base"):
        fr.resolve_fragment("nope", tmp_path)
    with pytest.raises(InvalidInput, match="does not exist"):
        fr.resolve_fragment(str(tmp_path / "missing.config"), tmp_path)


def test_option_forms() -> None:
    assert fr.parse_option("CONFIG_X=y").line == "CONFIG_X=y"
    assert fr.parse_option("X=m").line == "CONFIG_X=m"
    assert fr.parse_option("X=n").line == "# CONFIG_X is not set"
    with pytest.raises(InvalidInput, match="-K"):
        fr.parse_option("X")


def test_later_requests_override(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("CONFIG_X=y\nCONFIG_Y=y\n")
    b.write_text("# CONFIG_X is not set\n")
    merged = fr.merged_requests(
        [fr.parse_fragment(a), fr.parse_fragment(b)], [fr.parse_option("Y=n")]
    )
    assert merged["CONFIG_X"].value == "n" and merged["CONFIG_X"].source == f"{b}:1"
    assert merged["CONFIG_Y"].source == "-K"


def test_repo_fragments_parse() -> None:
    names = fr.available_fragments()
    assert {"base", "debug-atomic-sleep", "lockdep"} <= set(names)
    for name in names:
        frag = fr.resolve_fragment(name)
        assert frag.requests, name
    base = {r.symbol: r.value for r in fr.resolve_fragment("base").requests}
    for sym in (
        "CONFIG_PVH",
        "CONFIG_PRINTK_CALLER",
        "CONFIG_KALLSYMS",
        "CONFIG_DEBUG_FS",
        "CONFIG_VIRTIO_NET",
        "CONFIG_PVPANIC",
        "CONFIG_SERIAL_8250_CONSOLE",
    ):
        assert base[sym] == "y", sym
