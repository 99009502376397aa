"""The raw profile reader and checks, on real profiles our PGO kernel produced."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.profile import check, rawprof

DATA = Path(__file__).resolve().parent.parent / "data" / "profiles"
GUEST = DATA / "guest-v8.profraw"


def test_real_guest_profile_header() -> None:
    hdr = rawprof.read_header(GUEST)
    assert hdr.version == 8 and hdr.ir_level
    assert hdr.data_records > 20000 and hdr.counters > hdr.data_records
    assert hdr.names_size > 0 and hdr.value_kind_last == 1
    assert hdr.file_size >= hdr.minimum_size


def test_after_reset_profile(tmp_path: Path) -> None:
    raw = tmp_path / "reset.profraw"
    raw.write_bytes(gzip.decompress((DATA / "guest-v8-after-reset.profraw.gz").read_bytes()))
    assert rawprof.read_header(raw).version == 8


def _mutate(tmp_path: Path, fn: object) -> Path:
    data = bytearray(GUEST.read_bytes())
    out = tmp_path / "bad.profraw"
    out.write_bytes(fn(data))  # type: ignore[operator]
    return out


def test_truncated(tmp_path: Path) -> None:
    bad = _mutate(tmp_path, lambda d: d[: len(d) // 2])
    with pytest.raises(rawprof.ProfileFormatError, match="truncated"):
        rawprof.read_header(bad)
    short = _mutate(tmp_path, lambda d: d[:40])
    with pytest.raises(rawprof.ProfileFormatError, match="header truncated"):
        rawprof.read_header(short)


def test_wrong_magic(tmp_path: Path) -> None:
    bad = _mutate(tmp_path, lambda d: b"\0" * 8 + d[8:])
    with pytest.raises(rawprof.ProfileFormatError, match="bad magic"):
        rawprof.read_header(bad)


def test_wrong_version(tmp_path: Path) -> None:
    def set_version(d: bytearray) -> bytearray:
        word = struct.unpack_from("<Q", d, 8)[0]
        struct.pack_into("<Q", d, 8, (word & ~0xFFFFFFFF) | 9)
        return d

    with pytest.raises(rawprof.ProfileFormatError, match="unsupported raw profile version 9"):
        rawprof.read_header(_mutate(tmp_path, set_version))


@pytest.mark.skipif(check.profdata_tool() is None, reason="llvm-profdata not installed")
def test_llvm_profdata_accepts_real_and_rejects_corrupt(tmp_path: Path) -> None:
    good = check.check_file(GUEST, {"clang": "Debian clang version 14.0.6"})
    assert good.valid and good.version == 8 and (good.functions or 0) > 20000
    bad = check.check_file(_mutate(tmp_path, lambda d: d[: len(d) - 100000]))
    assert not bad.valid and "too much profile data" in bad.message


@pytest.mark.skipif(shutil.which("llvm-profdata") is None, reason="llvm-profdata not installed")
def test_cli_profile_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _mutate(tmp_path, lambda d: b"\0" * 8 + d[8:])
    assert cli.main(["profile", "check", str(GUEST)]) == 0
    assert cli.main(["profile", "check", str(GUEST), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad magic" in out and "valid" in out
    assert cli.main(["profile", "check", str(tmp_path / "missing")]) == 3


def _empty_header(version: int = 8) -> bytes:
    words = [rawprof.MAGIC64, rawprof.VARIANT_MASK_IR_PROF | version] + [0] * 9
    return struct.pack("<11Q", *words)


def test_all_zero_header_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.profraw"
    empty.write_bytes(_empty_header())
    with pytest.raises(rawprof.ProfileFormatError, match="0 functions and 0 counters"):
        rawprof.read_header(empty)
    assert cli.main(["profile", "check", str(empty)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("BAD") and "empty profile" in out
