"""``python -m tests.vm.fault_run FAULT TMP -- ARGS``: ``pgo-orch ARGS`` with one fault of ours.

The build is the model's fake (no kernel is compiled); the boot is the real one (keys,
initrd, Machine, QMP) up to the fault:

* ``qemu-fails``: the QEMU binary prints an error and exits 1 at once;
* ``qemu-missing``: there is no QEMU binary at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.vm import qemu
from orchestrator.workflows import run as wrun
from tests.model.fakes import fake_build_result


def main() -> int:
    fault, tmp = sys.argv[1], Path(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1:]
    mp = pytest.MonkeyPatch()
    built = fake_build_result(tmp / "kernel")
    mp.setattr(wrun.kbuild, "build", lambda req: built)
    mp.setattr(wrun, "build_request", lambda sc, opts: None)
    if fault == "qemu-fails":
        fake = tmp / "qemu-system-x86_64"
        fake.write_text("#!/bin/sh\necho 'qemu-system-x86_64: -kernel: cannot load' >&2\n"
                        "exit 1\n")
        fake.chmod(0o755)
        mp.setattr(qemu, "QEMU", str(fake))
    elif fault == "qemu-missing":
        mp.setattr(qemu, "QEMU", str(tmp / "no-such-qemu"))
    else:
        raise SystemExit(f"unknown fault {fault}")
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
