"""What SSH to the guest gives back: a command's result, and one error class per failed phase.

Every error is an ``InfraError`` whose ``reason`` names the phase (``ssh-connect-failed``,
``ssh-banner-timeout``, ``ssh-host-key-mismatch``, ``ssh-exec-timeout``, ...), so a report can
say *where* it stalled.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import InfraError


class SshError(InfraError):
    """Base for SSH failures; ``reason`` says which phase failed."""

    default_reason = "ssh-error"
    #: whether ``connect(retry_until=...)`` tries again after this error
    retryable = False

    def __init__(
        self, message: str, *, host: str = "", port: int = 0, reason: str | None = None
    ) -> None:
        where = f"{host}:{port}: " if host else ""
        super().__init__(where + message, reason=reason or self.default_reason)
        self.host = host
        self.port = port
        self.attempts = 1


class SshConnectError(SshError):
    """TCP connect refused/reset/unreachable, or closed before the server said anything."""

    default_reason = "ssh-connect-failed"
    retryable = True


class SshConnectTimeout(SshError):
    default_reason = "ssh-connect-timeout"
    retryable = True


class SshBannerTimeout(SshError):
    """TCP is up but no SSH banner came in time (a stalled sshd, or a guest still booting)."""

    default_reason = "ssh-banner-timeout"
    retryable = True


class SshProtocolError(SshError):
    """The peer sent something that is not an SSH-2 banner."""

    default_reason = "ssh-protocol-error"


class SshHandshakeTimeout(SshError):
    default_reason = "ssh-handshake-timeout"


class SshHandshakeFailed(SshError):
    default_reason = "ssh-handshake-failed"


class SshAuthTimeout(SshError):
    default_reason = "ssh-auth-timeout"


class SshAuthFailed(SshError):
    default_reason = "ssh-auth-failed"


class SshChannelError(SshError):
    """A session channel could not be opened or a request on it was refused."""

    default_reason = "ssh-channel-failed"


class SshDisconnected(SshError):
    """The connection died while a command ran (the guest may have crashed).

    ``partial`` holds what the command printed before that."""

    default_reason = "ssh-disconnected"

    def __init__(self, message: str, *, partial: CommandResult, host: str = "", port: int = 0):
        super().__init__(message, host=host, port=port)
        self.partial = partial


class SshTransferError(SshError):
    default_reason = "ssh-transfer-failed"


class SshHostKeyMismatch(SshError):
    """The server's host key is not the one pinned for this guest."""

    default_reason = "ssh-host-key-mismatch"


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    #: None if the command timed out, or ended without an exit status (killed by a signal)
    exit_status: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    #: seconds from opening the channel to the end
    duration: float
    #: bytes dropped from the front of stdout / stderr to keep the result bounded
    stdout_cut: int = 0
    stderr_cut: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    def text(self) -> str:
        """stdout as text, saying first how much of its beginning was cut, if any."""
        note = f"[pgo-orch: first {self.stdout_cut} bytes of output cut]\n" if self.stdout_cut \
            else ""
        return note + self.stdout.decode(errors="replace")

