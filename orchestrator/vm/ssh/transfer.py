"""Files to and from the guest, through ``cat`` on exec channels (dropbear has no SFTP).

``put`` checks the byte count the guest wrote; ``get`` streams to ``<file>.part`` and renames
it into place only when complete, so a cut transfer never looks like a file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from orchestrator.vm.ssh.errors import CommandResult, SshTransferError


class Executor(Protocol):
    """What a transfer needs of a session (``SshSession`` is one)."""

    host: str
    port: int

    def execute(
        self,
        command: str,
        argv: tuple[str, ...],
        *,
        timeout: float,
        on_stdout: Callable[[bytes], None] | None,
        on_stderr: Callable[[bytes], None] | None,
        stdin: bytes | None,
        capture_stdout: bool = True,
    ) -> CommandResult: ...


def describe(res: CommandResult) -> str:
    """How a command ended, for error messages."""
    if res.timed_out:
        return f"timed out after {res.duration:.1f}s"
    if res.exit_status is None:
        return "no exit status"
    return f"exit status {res.exit_status}"


def put(
    session: Executor, local: Path, remote: str, *, mode: int | None = None, timeout: float = 300.0
) -> int:
    """Copy a local file to ``remote`` (via ``cat >``); returns the byte count."""
    try:
        data = Path(local).read_bytes()
    except OSError as e:
        raise SshTransferError(f"cannot read {local}: {e}") from e
    script = 'cat > "$1" && wc -c < "$1"'
    argv: tuple[str, ...] = ("sh", "-c", script, "pgo-put", remote)
    if mode is not None:
        script = 'cat > "$1" && chmod "$2" "$1" && wc -c < "$1"'
        argv = ("sh", "-c", script, "pgo-put", remote, f"{mode:o}")
    res = session.execute(
        shlex.join(argv),
        argv,
        timeout=timeout,
        on_stdout=None,
        on_stderr=None,
        stdin=data,
    )
    if not res.ok:
        raise SshTransferError(
            f"put {local} -> {remote} failed ({describe(res)}): "
            f"{res.stderr.decode(errors='replace').strip()}",
            host=session.host,
            port=session.port,
        )
    written = res.stdout.strip()
    if written != str(len(data)).encode():
        raise SshTransferError(
            f"put {local} -> {remote}: remote has {written.decode(errors='replace')} bytes, "
            f"sent {len(data)}",
            host=session.host,
            port=session.port,
        )
    return len(data)

def get(session: Executor, remote: str, local: Path, *, timeout: float = 300.0) -> int:
    """Copy ``remote`` to a local file (via ``cat``), streaming to disk; returns bytes."""
    local = Path(local)
    part = local.with_name(local.name + ".part")
    argv = ("cat", "--", remote)
    count = 0
    try:
        with part.open("wb") as f:

            def write(chunk: bytes) -> None:
                nonlocal count
                f.write(chunk)
                count += len(chunk)

            res = session.execute(
                shlex.join(argv),
                argv,
                timeout=timeout,
                on_stdout=write,
                on_stderr=None,
                stdin=None,
                capture_stdout=False,
            )
        if not res.ok:
            raise SshTransferError(
                f"get {remote} -> {local} failed ({describe(res)}): "
                f"{res.stderr.decode(errors='replace').strip()}",
                host=session.host,
                port=session.port,
            )
        os.replace(part, local)
    except OSError as e:
        raise SshTransferError(f"cannot write {local}: {e}") from e
    finally:
        part.unlink(missing_ok=True)
    return count
