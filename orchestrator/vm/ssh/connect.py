"""Connecting to the guest: paramiko's Transport driven phase by phase, each with a deadline.

Phases: TCP connect (``connect_timeout``), first banner byte and the banner line
(``banner_timeout``), key exchange (``handshake_timeout``, default: the banner timeout), host
key check against the pinned key, public-key authentication (``auth_timeout``). Each has its
own exception and reason string, so a report can say *where* it stalled: an sshd can accept
TCP and then never speak, and QEMU's user networking accepts TCP on the host side even before
the guest is up.

The guest's host key is made on the host for every run and put into its initramfs, so the
client knows it in advance: ``host_key`` pins it and any other key is refused
(``SshHostKeyMismatch``, never retried).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import select
import socket
import threading
import time
from collections.abc import Callable

import paramiko

from orchestrator.vm.ssh.errors import (
    SshAuthFailed,
    SshAuthTimeout,
    SshBannerTimeout,
    SshConnectError,
    SshConnectTimeout,
    SshError,
    SshHandshakeFailed,
    SshHandshakeTimeout,
    SshHostKeyMismatch,
    SshProtocolError,
)


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """ "SHA256:..." as OpenSSH prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")



def _tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as e:
        raise SshConnectTimeout(
            f"TCP connect timed out after {timeout:.1f}s", host=host, port=port
        ) from e
    except OSError as e:
        what = errno.errorcode.get(e.errno or 0, "") or type(e).__name__
        raise SshConnectError(
            f"TCP connect failed: {e.strerror or e} ({what})", host=host, port=port
        ) from e
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _await_first_byte(sock: socket.socket, host: str, port: int, timeout: float) -> None:
    """Wait until the server sends something; tell a silent server from a closed connection."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SshBannerTimeout(
                f"connected, but no SSH banner within {timeout:.1f}s", host=host, port=port
            )
        readable, _, _ = select.select([sock], [], [], remaining)
        if not readable:
            continue
        try:
            peek = sock.recv(1, socket.MSG_PEEK)
        except OSError as e:
            raise SshConnectError(
                f"connection reset before the SSH banner: {e}",
                host=host,
                port=port,
                reason="ssh-closed-before-banner",
            ) from e
        if not peek:
            raise SshConnectError(
                "connection closed before the SSH banner (sshd not listening yet?)",
                host=host,
                port=port,
                reason="ssh-closed-before-banner",
            )
        return


def _cause_chain(e: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


def _handshake(
    sock: socket.socket,
    host: str,
    port: int,
    banner_timeout: float,
    handshake_timeout: float,
    auth_timeout: float,
) -> paramiko.Transport:
    """Banner line and key exchange on a connected socket that already has data waiting."""
    transport = paramiko.Transport(sock)
    # paramiko's own limits sit behind ours, so the deadlines below decide and classify
    transport.banner_timeout = banner_timeout + 1.0
    transport.handshake_timeout = banner_timeout + handshake_timeout + 1.0
    transport.auth_timeout = auth_timeout
    done = threading.Event()
    start = time.monotonic()
    banner_at: float | None = None
    transport.start_client(event=done)
    try:
        while True:
            done.wait(0.02)
            now = time.monotonic()
            if banner_at is None and transport.remote_version:
                banner_at = now
            if not transport.is_active():
                raise _classify_handshake_failure(transport, host, port, banner_timeout)
            if done.is_set():
                return transport
            if banner_at is None and now - start > banner_timeout:
                raise SshBannerTimeout(
                    f"no complete SSH banner within {banner_timeout:.1f}s", host=host, port=port
                )
            if banner_at is not None and now - banner_at > handshake_timeout:
                raise SshHandshakeTimeout(
                    f"key exchange not finished within {handshake_timeout:.1f}s "
                    f"(server {transport.remote_version})",
                    host=host,
                    port=port,
                )
    except BaseException:
        transport.close()
        raise


def _classify_handshake_failure(
    transport: paramiko.Transport, host: str, port: int, banner_timeout: float
) -> SshError:
    exc = transport.get_exception()
    chain = _cause_chain(exc)
    detail = str(exc) if exc else "transport closed"
    if not transport.remote_version:
        if any(isinstance(c, TimeoutError) for c in chain):
            return SshBannerTimeout(
                f"no complete SSH banner within {banner_timeout:.1f}s", host=host, port=port
            )
        if any(isinstance(c, EOFError | ConnectionError) for c in chain) or exc is None:
            return SshConnectError(
                f"connection closed while reading the SSH banner ({detail})",
                host=host,
                port=port,
                reason="ssh-closed-before-banner",
            )
        return SshProtocolError(f"bad SSH banner: {detail}", host=host, port=port)
    if any(isinstance(c, TimeoutError) for c in chain):
        return SshHandshakeTimeout(f"key exchange timed out: {detail}", host=host, port=port)
    return SshHandshakeFailed(
        f"key exchange with {transport.remote_version} failed: {detail}", host=host, port=port
    )


def _authenticate(
    transport: paramiko.Transport, user: str, key: paramiko.PKey, host: str, port: int
) -> None:
    try:
        remaining = transport.auth_publickey(user, key)
    except paramiko.BadAuthenticationType as e:
        raise SshAuthFailed(
            f"server does not allow public-key login for {user} (allowed: {e.allowed_types})",
            host=host,
            port=port,
        ) from e
    except paramiko.AuthenticationException as e:
        if "timeout" in str(e).lower():
            raise SshAuthTimeout(
                f"no answer to public-key authentication within {transport.auth_timeout:.1f}s",
                host=host,
                port=port,
            ) from e
        raise SshAuthFailed(
            f"public-key authentication as {user} rejected: {e}", host=host, port=port
        ) from e
    except paramiko.SSHException as e:
        raise SshAuthFailed(f"authentication as {user} failed: {e}", host=host, port=port) from e
    if remaining or not transport.is_authenticated():
        raise SshAuthFailed(
            f"server wants more authentication for {user}: {remaining}", host=host, port=port
        )



def _check_host_key(transport: paramiko.Transport, pinned: paramiko.PKey | None, host: str,
                    port: int) -> None:
    if pinned is None:
        return
    got = transport.get_remote_server_key()
    if got.get_name() != pinned.get_name() or got.asbytes() != pinned.asbytes():
        raise SshHostKeyMismatch(
            f"host key {got.get_name()} {host_key_fingerprint(got)} is not the pinned "
            f"{pinned.get_name()} {host_key_fingerprint(pinned)}",
            host=host,
            port=port,
        )


def open_transport(
    host: str,
    port: int,
    key: paramiko.PKey,
    *,
    connect_timeout: float,
    banner_timeout: float,
    auth_timeout: float,
    user: str = "root",
    retry_until: float | None = None,
    handshake_timeout: float | None = None,
    retry_interval: float = 0.5,
    on_attempt_failed: Callable[[SshError], None] | None = None,
    host_key: paramiko.PKey | None = None,
) -> tuple[paramiko.Transport, int]:
    """An authenticated transport and the number of attempts it took.

    ``retry_until`` (a ``time.time()`` wall-clock deadline) retries connection refused,
    reset, closed-before-banner and connect/banner timeouts (a guest still booting) until
    then; a new attempt starts only before the deadline. While retrying, the wait for the
    server's first byte grows 1s, 2s, 4s... up to ``banner_timeout`` (QEMU's user
    networking holds a connection open while the guest is not listening yet); the other
    phases get their full timeouts. Protocol, handshake, host key and authentication errors
    are never retried. The error raised carries ``attempts``.
    """
    hs_timeout = banner_timeout if handshake_timeout is None else handshake_timeout
    attempts = 0
    silent = 0  # attempts that got TCP but no first byte
    while True:
        attempts += 1
        # QEMU user networking accepts TCP before the guest listens and then only
        # re-sends its SYN to the guest with back-off; a fresh connection is quicker.
        # So while retrying, wait 1s, 2s, 4s... for the first byte, up to banner_timeout.
        first_byte = banner_timeout
        if retry_until is not None:
            first_byte = min(banner_timeout, 2.0**silent)
        try:
            sock = _tcp_connect(host, port, connect_timeout)
            try:
                _await_first_byte(sock, host, port, first_byte)
                sock.settimeout(None)
                transport = _handshake(sock, host, port, banner_timeout, hs_timeout,
                                       auth_timeout)
            except BaseException:
                sock.close()
                raise
            try:
                _check_host_key(transport, host_key, host, port)
                _authenticate(transport, user, key, host, port)
            except BaseException:
                transport.close()
                raise
        except SshError as e:
            e.attempts = attempts
            if isinstance(e, SshBannerTimeout):
                silent += 1
            now = time.time()
            if retry_until is None or not e.retryable or now >= retry_until:
                if attempts > 1:
                    e.message += f" (after {attempts} attempts)"
                    e.args = (e.message,)
                raise
            if on_attempt_failed is not None:
                on_attempt_failed(e)
            time.sleep(max(0.0, min(retry_interval, retry_until - now)))
            continue
        return transport, attempts
