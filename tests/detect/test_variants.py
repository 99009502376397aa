"""Every corpus log, rewritten the ways consoles mangle reports, must keep its titles.

Variants made from each log (figures printed, goal: the same title agreement as the logs):

* ``interleaved``: after every third line, a line of another context (a USB reset message, with
  the log's own timestamp style and no caller id), as when two CPUs print at once;
* ``syslog``: every kernel line wrapped as a syslog/journal line
  (``Nov 30 00:00:00 host kernel: [  12.345678] msg``; in a log without printk times, every
  line).
"""

from __future__ import annotations

import re

import pytest

from orchestrator.detect import detect_text
from tests.detect.corpus import Agreement, all_logs, assert_goals, load

LOGS = all_logs()
_TS_RE = re.compile(r"^\s*\[\s*(\d+\.\d+)\]")
FOREIGN = "usb 1-1: reset high-speed USB device number 2 using xhci_hcd"


def interleaved(body: str) -> str:
    out: list[str] = []
    for i, line in enumerate(body.splitlines()):
        out.append(line)
        if i % 3 == 2:
            m = _TS_RE.match(line)
            out.append(f"[{float(m.group(1)):12.6f}] {FOREIGN}" if m else FOREIGN)
    return "\n".join(out) + "\n"


def syslog(body: str) -> str:
    """Kernel lines (those with printk time, or all lines of a log without any) as syslog."""
    lines = body.splitlines()
    timed = any(_TS_RE.match(ln) for ln in lines)
    return "".join(
        f"Nov 30 00:00:00 host kernel: {ln}\n" if not timed or _TS_RE.match(ln) else ln + "\n"
        for ln in lines
    )


@pytest.mark.parametrize("variant", [interleaved, syslog], ids=["interleaved", "syslog"])
def test_variant_agreement(variant: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert callable(variant)
    agreement = Agreement()
    for path in LOGS:
        log = load(path)
        agreement.add(log, [f.title for f in detect_text(variant(log.body))])
    assert_goals(f"corpus variant {variant.__name__}:", agreement, capsys)


def test_interleaving_really_splits_traces() -> None:
    """The interleaved variant puts foreign lines inside traces (the test is not vacuous)."""
    body = load(next(p for p in LOGS if p.name == "old-style-trace.log")).body
    mixed = interleaved(body).splitlines()
    frames = [i for i, ln in enumerate(mixed) if "+0x" in ln]
    assert any(FOREIGN in ln for ln in mixed[frames[0] : frames[-1]])
