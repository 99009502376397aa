"""A signal that arrives while pgo-orch handles an interrupt does not escape as a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]

# main() whose command is interrupted; a SIGTERM then arrives inside the KeyboardInterrupt
# handler, just before the handler installs SIG_IGN (the window the reviewer found)
SCRIPT = r"""
import argparse, os, signal, sys
from orchestrator import cli

def interrupted(args):
    raise KeyboardInterrupt

class Parser:
    def parse_args(self, argv):
        return argparse.Namespace(func=interrupted)

cli.build_parser = Parser
real_signal = signal.signal
def late_signal(sig, handler):
    if handler is signal.SIG_IGN and sig == signal.SIGINT:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # give a pending Python handler every chance to run
            pass
    return real_signal(sig, handler)
signal.signal = late_signal
sys.exit(cli.main([]))
"""


def test_signal_inside_the_interrupt_handler_is_held() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2 and "pgo-orch: interrupted" in proc.stderr
