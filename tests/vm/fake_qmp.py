"""A fake QEMU monitor speaking QMP on a unix socket, for unit tests of the QMP users.

It checks argument types the way QEMU's QAPI visitor does: an ``int`` argument outside the
signed 64-bit range is rejected with QEMU's own message ("Invalid parameter type for 'val',
expected: integer"), so code that hands QEMU an unsigned kernel address fails here as it does
on real QEMU. ``memsave`` writes bytes from ``memory`` (a dict address -> bytes, addresses
taken as unsigned 64-bit); ``human-monitor-command`` answers from ``hmp``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: QAPI int arguments of the commands the fake knows (name -> int-typed keys)
_INT_ARGS = {"memsave": ("val", "size", "cpu-index"), "pmemsave": ("val", "size")}


class FakeQmp:
    def __init__(self, path: Path, *, memory: dict[int, bytes] | None = None,
                 hmp: Callable[[str], str] | None = None) -> None:
        self.path = path
        self.memory = memory or {}
        self.hmp = hmp or (lambda cmd: "")
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.status = "running"
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(str(path))
        self._srv.listen(4)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._srv.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        # QMP is a JSON stream: clients (qemu.qmp) send objects without newlines
        f = conn.makefile("wb", buffering=0)
        dec = json.JSONDecoder()
        buf = ""
        try:
            self._send(f, {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                                               "package": "fake"}, "capabilities": []}})
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data.decode()
                while True:
                    buf = buf.lstrip()
                    try:
                        msg, end = dec.raw_decode(buf)
                    except ValueError:
                        break
                    buf = buf[end:]
                    reply = self._handle(str(msg.get("execute")),
                                         dict(msg.get("arguments", {})))
                    if "id" in msg:
                        reply["id"] = msg["id"]
                    self._send(f, reply)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _send(f: Any, obj: dict[str, Any]) -> None:
        f.write(json.dumps(obj).encode() + b"\r\n")

    def _handle(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        self.commands.append((cmd, args))
        for key in _INT_ARGS.get(cmd, ()):
            v = args.get(key)
            if v is not None and not (isinstance(v, int) and -(2**63) <= v < 2**63):
                return {"error": {"class": "GenericError",
                                  "desc": f"Invalid parameter type for '{key}', "
                                          "expected: integer"}}
        if cmd == "qmp_capabilities":
            return {"return": {}}
        if cmd == "query-status":
            return {"return": {"status": self.status, "running": self.status == "running"}}
        if cmd == "stop":
            self.status = "paused"
            return {"return": {}}
        if cmd == "cont":
            self.status = "running"
            return {"return": {}}
        if cmd == "human-monitor-command":
            return {"return": self.hmp(str(args.get("command-line", "")))}
        if cmd == "memsave":
            addr = int(args["val"]) & (2**64 - 1)
            size = int(args["size"])
            data = bytearray(size)
            for base, blob in self.memory.items():
                for i, b in enumerate(blob):
                    off = base + i - addr
                    if 0 <= off < size:
                        data[off] = b
            Path(str(args["filename"])).write_bytes(bytes(data))
            return {"return": {}}
        return {"error": {"class": "CommandNotFound", "desc": f"The command {cmd} has not "
                                                              "been found"}}
