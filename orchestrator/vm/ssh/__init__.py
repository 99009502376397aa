"""SSH to the guest (a package: ``errors``, ``connect``, ``session``, ``transfer``, ``shell``).

``SshSession.connect`` gives an authenticated session with a pinned host key;
``run``/``run_script`` run commands with deadlines; ``put``/``get`` copy files. This module
re-exports the public names, so callers import from ``orchestrator.vm.ssh``.
"""

from orchestrator.vm.ssh.connect import host_key_fingerprint
from orchestrator.vm.ssh.errors import (
    CommandResult,
    SshAuthFailed,
    SshAuthTimeout,
    SshBannerTimeout,
    SshChannelError,
    SshConnectError,
    SshConnectTimeout,
    SshDisconnected,
    SshError,
    SshHandshakeFailed,
    SshHandshakeTimeout,
    SshHostKeyMismatch,
    SshProtocolError,
    SshTransferError,
)
from orchestrator.vm.ssh.session import OutputCallback, SshSession

__all__ = [
    "CommandResult", "OutputCallback", "SshAuthFailed", "SshAuthTimeout", "SshBannerTimeout",
    "SshChannelError", "SshConnectError", "SshConnectTimeout", "SshDisconnected", "SshError",
    "SshHandshakeFailed", "SshHandshakeTimeout", "SshHostKeyMismatch", "SshProtocolError",
    "SshSession", "SshTransferError", "host_key_fingerprint",
]
