"""Run directories: ``runs/<id>/`` under the current directory, or the user's ``--out``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestrator.errors import InvalidInput


def new_run_dir(out: Path | None, kind: str) -> Path:
    """Create and return the run directory; ``--out`` must be empty or new."""
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InvalidInput(f"--out {out} exists and is not an empty directory",
                               field="--out")
        out.mkdir(parents=True, exist_ok=True)
        return out.resolve()
    base = Path("runs")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        d = base / f"{kind}-{stamp}-{os.getpid()}{'' if n == 0 else f'-{n}'}"
        try:
            d.mkdir(parents=True)
            return d.resolve()
        except FileExistsError:
            continue
    raise InvalidInput("could not create a run directory under runs/", field="--out")
