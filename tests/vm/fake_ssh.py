"""A real SSH server (paramiko) on 127.0.0.1 whose exec behaviour a test chooses.

``exec_handler(channel, command)`` runs in its own thread once the exec request is accepted;
``block_exec`` makes the server never answer the exec request at all (a guest stuck in
fork/exec: the server's transport thread is blocked, so nothing else is answered either).
Any public key is accepted; ``global_requests`` counts keepalives and other global requests.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import paramiko
from paramiko.common import AUTH_SUCCESSFUL, OPEN_SUCCEEDED


class _Server(paramiko.ServerInterface):
    def __init__(self, owner: FakeSshServer) -> None:
        self.owner = owner

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_global_request(self, kind: str, msg: Any) -> bool:
        self.owner.global_requests.append(kind)
        return False

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.owner.block_exec:
            self.owner.release.wait(60)
            return False
        handler = self.owner.exec_handler
        if handler is not None:
            threading.Thread(target=handler, args=(channel, command.decode()),
                             daemon=True).start()
        return True


class FakeSshServer:
    def __init__(self, host_key: paramiko.PKey, *,
                 exec_handler: Callable[[paramiko.Channel, str], None] | None = None,
                 block_exec: bool = False) -> None:
        self.host_key = host_key
        self.exec_handler = exec_handler
        self.block_exec = block_exec
        self.release = threading.Event()
        self.global_requests: list[str] = []
        self.transports: list[paramiko.Transport] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(self.host_key)
            self.transports.append(t)
            t.start_server(server=_Server(self))

    def close(self) -> None:
        self.release.set()
        self._listener.close()
        for t in self.transports:
            t.close()
