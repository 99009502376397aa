"""Error types and the exit codes every pgo-orch command shares.

Exit codes (documented in README.md):
  0  success / pass
  1  a problem was found in the kernel under test
  2  infrastructure error (build failed, tool missing, QEMU or SSH failed)
  3  invalid input (unknown fragment, malformed file, path that is not a kernel tree)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    KERNEL_PROBLEM = 1
    INFRA = 2
    INVALID_INPUT = 3


class PgoOrchError(Exception):
    """Base class: every error carries the exit code the CLI turns it into."""

    exit_code: ExitCode = ExitCode.INFRA

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: short machine-readable reason, e.g. "build-failed", "ssh-timeout"
        self.reason = reason or type(self).__name__


class InvalidInput(PgoOrchError):
    """Bad input from the user: a file, option or path that cannot be used (exit 3)."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        reason: str | None = None,
    ) -> None:
        where = ""
        if path:
            where = path
            if line is not None:
                where += f":{line}"
            where += ": "
        if field:
            where += f"{field}: "
        super().__init__(where + message, reason=reason or "invalid-input")
        self.path = path
        self.line = line
        self.field = field


class InfraError(PgoOrchError):
    """Something around the kernel under test failed: build, tool, QEMU, SSH (exit 2)."""

    exit_code = ExitCode.INFRA


class ToolMissing(InfraError):
    """A host program pgo-orch needs is not installed."""

    def __init__(self, tool: str, fix: str) -> None:
        super().__init__(f"{tool} not found; install it with: {fix}", reason="tool-missing")
        self.tool = tool
        self.fix = fix


class ConfigMismatch(InvalidInput):
    """The kernel under test cannot give an option that was asked for (config proof failed).

    Invalid input for ``pgo-orch build`` and ``run`` (exit 3); inside a series or a bisection
    it belongs to that revision of the kernel (a skip, or an error for that patch)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field, reason="config-mismatch")


class BuildFailed(InfraError):
    """``make`` failed: ``first_errors`` holds the first error lines, ``log`` the build log."""

    def __init__(self, message: str, *, first_errors: str = "", log: str | None = None) -> None:
        super().__init__(message, reason="build-failed")
        self.first_errors = first_errors
        self.log = log
