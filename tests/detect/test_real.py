"""Real console logs of our own kernels (``real-*.log``): LKDTM crashes captured under QEMU.

The logs themselves are checked by ``test_corpus.py`` like every corpus log; this file checks
what only real logs can show: titles that do not move between two builds of the kernel, and
symbolization of real frames against the vmlinux the log came from.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.detect import detect_text
from orchestrator.detect.symbolize import read_symbols
from tests.detect.corpus import CORPUS, all_logs, load

REAL = [p for p in all_logs() if p.name.startswith("real-")]
SOURCE = "# source: pgo-orch lkdtm capture, kernel 6.1.192+ clang 14"
LKDTM_OPTIONS = ["CONFIG_RUNTIME_TESTING_MENU=y", "CONFIG_LKDTM=y"]
_FRAME_SIZE_RE = re.compile(r"\s(?:\? )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x([0-9a-f]+)\s*$")


def test_real_corpus_is_big_enough() -> None:
    assert len(REAL) >= 20
    for path in REAL:
        assert load(path).text.startswith(SOURCE + "\n"), path.name


def test_real_clean_boot_has_no_finding() -> None:
    log = load(CORPUS / "real-clean-boot.log")
    assert log.none
    assert "Run /init as init process" in log.body  # a whole boot, not an empty file
    assert detect_text(log.body) == []


def test_same_warning_on_two_builds_gives_the_same_title() -> None:
    """WARNING provoked on the LKDTM kernel and on the same kernel with LOG_BUF_SHIFT=18."""
    a = load(CORPUS / "real-warning.log").body
    b = load(CORPUS / "real-warning-logbuf18.log").body
    # two different builds: the data addresses in the register dump moved
    regs = re.compile(r"R(?:AX|DI|BX): ([0-9a-f]{16})")
    assert regs.findall(a) != regs.findall(b)
    fa, fb = detect_text(a), detect_text(b)
    assert [f.title for f in fa] == [f.title for f in fb] == ["WARNING in lkdtm_WARNING"]
    assert fa[0].guilty == fb[0].guilty == "lkdtm_WARNING"
    assert [f.func for f in fa[0].frames if f.reliable] == [
        f.func for f in fb[0].frames if f.reliable
    ]


# ------------------------------------------------------------------ symbolization


@pytest.fixture(scope="module")
def lkdtm_vmlinux() -> Path:
    """The LKDTM kernel's vmlinux, taken through the build cache (built on a fresh machine:
    the same kernel the vm tests boot, so CI builds it once whichever test asks first)."""
    from orchestrator.kernel import build as kbuild
    from orchestrator.kernel import defaults

    req = kbuild.BuildRequest(
        tree=defaults.default_tree(), fragments=defaults.default_fragments(), options=LKDTM_OPTIONS
    )
    return kbuild.build(req).vmlinux


@pytest.mark.slow
def test_symbolize_real_log_against_cached_vmlinux(tmp_path: Path, lkdtm_vmlinux: Path) -> None:
    assert shutil.which("llvm-symbolizer") and shutil.which("nm"), "scripts/setup.sh installs them"
    vmlinux = lkdtm_vmlinux
    log = CORPUS / "real-warning.log"
    symbols = read_symbols(vmlinux)
    # the log must come from this very build: every frame's function has the printed size
    for name, size in _FRAME_SIZE_RE.findall(log.read_text()):
        sizes = {sz for _, sz in symbols.get(name, [])}
        assert int(size, 16) in sizes or None in sizes, (
            f"{log.name} no longer matches the LKDTM kernel ({name} size): the default tree "
            "changed; recapture the log as tests/corpus/README.md says"
        )
    console = tmp_path / "console.log"  # the log as captured, without the corpus header
    console.write_text(load(log).body)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "detect", "--json", "--vmlinux", str(vmlinux),
         str(console)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # 1: findings
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["title"] == "WARNING in lkdtm_WARNING"
    frames = finding["frames"]
    assert frames and all(
        re.search(r"\.[chS]:\d+$", fr["source"] or "") for fr in frames if fr["offset"]
    ), [(fr["raw"], fr["source"]) for fr in frames]
    by_symbol = {fr["symbol"]: fr for fr in frames}
    assert by_symbol["lkdtm_WARNING"]["source"].endswith("drivers/misc/lkdtm/bugs.c:85")
    # normalized names (ksys_write -> write) and size-less assembly symbols resolve too
    assert by_symbol["ksys_write"]["source"].endswith("fs/read_write.c:637")
    assert by_symbol["entry_SYSCALL_64_after_hwframe"]["source"].endswith(
        "arch/x86/entry/entry_64.S:121"
    )
    assert "/./" not in json.dumps(frames)
