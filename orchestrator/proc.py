"""Running host programs: argv lists only (never shell strings), with deadlines."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.errors import InfraError, ToolMissing
from orchestrator.tools import install_hint


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    check: bool = True,
    input_bytes: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` capturing text output; a failure raises InfraError with the output tail."""
    args = [str(a) for a in argv]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            timeout=timeout,
            capture_output=True,
            input=input_bytes.decode() if input_bytes is not None else None,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(args[0], install_hint(args[0])) from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(
            f"{args[0]} did not finish within {timeout:.0f}s: {' '.join(args)}",
            reason="command-timeout",
        ) from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise InfraError(
            f"command failed (exit {proc.returncode}): {' '.join(args)}\n" + "\n".join(tail),
            reason="command-failed",
        )
    return proc
