"""Small file-system helpers shared by the run directory and the kernel build cache.

Owns :func:`write_atomic`, the one way pgo-orch replaces a file so that no reader ever sees
half of it. Imports nothing from the rest of the package (anything may import it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` through a unique temp file in the same directory and a
    rename: a reader (or a process killed half way) never sees half a file, two writers (even
    threads of one process) never share a temp file, and a failed write leaves no temp file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would stay with the renamed file
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
