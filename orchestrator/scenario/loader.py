"""Load a scenario (TOML file, TOML text or dict) into the typed model.

Every error is :class:`InvalidInput` (exit 3) naming the origin (file path or label), the line
when there is text, and the key path: ``origin:line: readers[0].duration: message``. Numbers
must be finite and within sane bounds (a NaN timeout would wait forever).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

from orchestrator.errors import InvalidInput
from orchestrator.paths import SCENARIOS_DIR
from orchestrator.scenario import model as m

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: no trailing newline
_OPTION = re.compile(r"CONFIG_[A-Za-z0-9_]+=\S+|# CONFIG_[A-Za-z0-9_]+ is not set")
#: upper bounds of numeric keys (seconds, counts, bytes): beyond these it is a typo
_MAX: dict[str, float] = {
    "boot_timeout": 3600, "ssh_timeout": 3600, "setup_timeout": 3600, "settle": 600,
    "duration": 86400, "interval": 86400, "iterations": 10**9, "min_bytes": 1 << 30,
    "keep_every": 10**9, "keep_max": 10**6,
}


class _Src:
    """The file's text, to find the line of a key for error messages."""

    def __init__(self, origin: str, text: str) -> None:
        self.path = origin
        self.lines = text.splitlines()

    def line_of(self, table: str | None, index: int | None, key: str | None) -> int | None:
        """Line of ``key`` in ``[table]`` / the index-th ``[[table]]`` (top level if None)."""
        cur: str | None = None
        seen: dict[str, int] = {}
        header_line: int | None = None
        for n, raw in enumerate(self.lines, start=1):
            s = raw.strip()
            hm = re.match(r"^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?", s)
            if hm:
                cur = hm.group(1)
                seen[cur] = seen.get(cur, -1) + 1
                if cur == table and (index is None or seen[cur] == index):
                    header_line = n
                    if key is None:
                        return n
                continue
            in_table = (cur == table and (index is None or seen.get(cur or "") == index)) or (
                table is None and cur is None)
            if in_table and key is not None and re.match(
                    rf"^{re.escape(key)}\s*=", s):
                return n
        return header_line

    def error(self, msg: str, table: str | None = None, index: int | None = None,
              key: str | None = None) -> InvalidInput:
        where = ".".join(x for x in (table, f"[{index}]" if index is not None else None, key)
                         if x).replace(".[", "[")
        return InvalidInput(msg, path=self.path, line=self.line_of(table, index, key),
                            field=where or None, reason="bad-scenario")


def resolve_path(spec: str) -> Path:
    """A scenario by path, or by name from scenarios/ (with or without .toml)."""
    p = Path(spec).expanduser()
    if p.is_file():
        return p.resolve()
    for cand in (SCENARIOS_DIR / spec, SCENARIOS_DIR / f"{spec}.toml"):
        if cand.is_file():
            return cand
    raise InvalidInput(f"scenario {spec!r} not found (a file, or a name in {SCENARIOS_DIR})",
                       field="scenario", reason="no-such-scenario")


_TYPES: dict[type, str] = {int: "an integer", float: "a number", str: "a string",
                           bool: "true or false", list: "a list"}


def _check_type(src: _Src, value: Any, want: type, table: str | None, index: int | None,
                key: str, item: type | None = None) -> Any:
    ok = isinstance(value, want) and not (want in (int, float) and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise src.error(f"must be {_TYPES[want]}, got {type(value).__name__} {value!r}",
                        table, index, key)
    if want is float and not math.isfinite(value):
        raise src.error(f"must be a finite number, got {value!r}", table, index, key)
    if want in (int, float) and key in _MAX and not value <= _MAX[key]:
        raise src.error(f"must be at most {_MAX[key]:g}, got {value!r}", table, index, key)
    if item is not None:
        for v in value:
            if not isinstance(v, item) or (isinstance(v, str) and "\0" in v):
                raise src.error(f"every entry must be {_TYPES[item]}, got {v!r}", table, index,
                                key)
    return value


def _fill(src: _Src, obj: Any, data: dict[str, Any], table: str | None,
          index: int | None = None, *, skip: tuple[str, ...] = ()) -> None:
    """Set the dataclass fields of ``obj`` from ``data``, rejecting unknown keys."""
    hints = get_type_hints(type(obj))
    known = {f.name for f in fields(obj) if f.name not in skip}
    for key, value in data.items():
        if key not in known:
            raise src.error(f"unknown key {key!r} (known: {', '.join(sorted(known))})",
                            table, index, key)
        hint = str(hints[key])
        if "list" in hint:
            value = _check_type(src, value, list, table, index, key, str)
        elif "bool" in hint:
            value = _check_type(src, value, bool, table, index, key)
        elif "float" in hint:
            value = _check_type(src, value, float, table, index, key)
        elif "int" in hint:
            value = _check_type(src, value, int, table, index, key)
        else:
            value = _check_type(src, value, str, table, index, key)
        setattr(obj, key, value)


def _table(src: _Src, data: dict[str, Any], key: str) -> dict[str, Any]:
    v = data.get(key, {})
    if not isinstance(v, dict):
        raise src.error("must be a table", None, None, key)
    return v


def _array_of_tables(src: _Src, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise src.error(f"must be an array of tables ([[{key}]])", None, None, key)
    return v


def load(spec: str | Path) -> m.Scenario:
    """A scenario file, or a name from scenarios/."""
    path = resolve_path(str(spec))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(path),
                           reason="bad-scenario") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InvalidInput(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                           f"{exc.start})", path=str(path), line=line,
                           reason="bad-scenario") from exc
    return loads(text, origin=str(path))


def loads(text: str, *, origin: str) -> m.Scenario:
    """A scenario from TOML text; ``origin`` names it in errors (a path or a label)."""
    src = _Src(origin, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        lm = re.search(r"line (\d+)", str(exc))
        raise InvalidInput(f"not valid TOML: {exc}", path=origin,
                           line=int(lm.group(1)) if lm else None, reason="bad-scenario") from exc
    sc = _build(src, data)
    sc.source_text = text
    return sc


def from_dict(data: dict[str, Any], *, origin: str) -> m.Scenario:
    """A scenario from a TOML-shaped dict (e.g. ``Scenario.to_json()``); no line numbers."""
    if not isinstance(data, dict):
        raise InvalidInput("a scenario must be a table", path=origin, reason="bad-scenario")
    return _build(_Src(origin, ""), data)


def _build(src: _Src, data: dict[str, Any]) -> m.Scenario:
    top = {"name", "description", "kernel", "machine", "profile", "setup", "readers", "loads",
           "verdict", "expect"}
    for key in data:
        if key not in top:
            raise src.error(f"unknown key {key!r} (known: {', '.join(sorted(top))})", None,
                            None, key)
    for key in ("name", "description"):
        if key not in data:
            raise src.error(f"missing required key {key!r}", None, None, None)
        _check_type(src, data[key], str, None, None, key)
    if not _NAME.fullmatch(data["name"]):
        raise src.error("must be 1-64 letters, digits, '-', '_' or '.'", None, None, "name")
    sc = m.Scenario(name=data["name"], description=data["description"], path=Path(src.path))
    _fill(src, sc.kernel, _table(src, data, "kernel"), "kernel")
    for key in ("options", "require"):
        for opt in getattr(sc.kernel, key):
            if not _OPTION.fullmatch(opt):
                raise src.error(f"{opt!r} is not CONFIG_X=value or '# CONFIG_X is not set'",
                                "kernel", None, key)
    _fill(src, sc.machine, _table(src, data, "machine"), "machine")
    mc = sc.machine
    if mc.accel not in ("auto", "kvm", "tcg"):
        raise src.error("must be auto, kvm or tcg", "machine", None, "accel")
    for key in ("boot_timeout", "ssh_timeout", "setup_timeout"):
        if getattr(mc, key) <= 0:
            raise src.error("must be positive", "machine", None, key)
    if not 1 <= mc.cpus <= 64:
        raise src.error("must be 1..64", "machine", None, "cpus")
    if not 128 <= mc.memory_mb <= 65536:
        raise src.error("must be 128..65536", "machine", None, "memory_mb")
    _fill(src, sc.profile, _table(src, data, "profile"), "profile")
    for key in ("paths", "reset_paths"):
        for p in getattr(sc.profile, key):
            if not p.startswith("/"):
                raise src.error(f"{p!r} is not an absolute guest path", "profile", None, key)
    if "setup" in data:
        sc.setup = _check_type(src, data["setup"], list, None, None, "setup", str)
    readers = _array_of_tables(src, data, "readers")
    for i, rd in enumerate(readers):
        if "name" not in rd or "command" not in rd:
            missing = "name" if "name" not in rd else "command"
            raise src.error(f"missing required key {missing!r}", "readers", i, None)
        r = m.Reader(name="", command="")
        _fill(src, r, rd, "readers", i)
        _check_reader(src, r, i)
        sc.readers.append(r)
    for i, ld in enumerate(_array_of_tables(src, data, "loads")):
        if "name" not in ld or "command" not in ld:
            missing = "name" if "name" not in ld else "command"
            raise src.error(f"missing required key {missing!r}", "loads", i, None)
        load_ = m.Load(name="", command="")
        _fill(src, load_, ld, "loads", i)
        if not _NAME.fullmatch(load_.name):
            raise src.error("must be 1-64 letters, digits, '-', '_' or '.'", "loads", i, "name")
        if load_.interval < 0:
            raise src.error("must not be negative", "loads", i, "interval")
        if not load_.command.strip():
            raise src.error("must not be empty", "loads", i, "command")
        sc.loads.append(load_)
    vd = dict(_table(src, data, "verdict"))
    allow = vd.pop("allow", [])
    _fill(src, sc.verdict, vd, "verdict", skip=("allow",))
    if not isinstance(allow, list):
        raise src.error("must be an array of tables ([[verdict.allow]])", "verdict", None,
                        "allow")
    for i, a in enumerate(allow):
        if not isinstance(a, dict):
            raise src.error(f"every entry must be a table, got {a!r}", "verdict", None, "allow")
        entry = m.AllowEntry(reason="")
        _fill(src, entry, a, "verdict.allow", i)
        if not entry.reason:
            raise src.error("missing required key 'reason'", "verdict.allow", i, None)
        if (entry.title is None) == (entry.pattern is None):
            raise src.error("needs exactly one of 'title' or 'pattern'", "verdict.allow", i,
                            None)
        if entry.pattern is not None:
            try:
                re.compile(entry.pattern)
            except re.error as exc:
                raise src.error(f"bad regular expression: {exc}", "verdict.allow", i,
                                "pattern") from exc
        sc.verdict.allow.append(entry)
    if sc.verdict.settle < 0:
        raise src.error("must not be negative", "verdict", None, "settle")
    if "expect" in data:
        sc.expect = m.ExpectSpec()
        _fill(src, sc.expect, _table(src, data, "expect"), "expect")
        if not sc.expect.titles or not all(t.strip() for t in sc.expect.titles):
            raise src.error("must be a non-empty list of finding titles", "expect", None,
                            "titles")
    return sc


def _check_reader(src: _Src, r: m.Reader, i: int) -> None:
    if not _NAME.fullmatch(r.name):
        raise src.error("must be 1-64 letters, digits, '-', '_' or '.'", "readers", i, "name")
    if not r.command.strip():
        raise src.error("must not be empty", "readers", i, "command")
    for key in ("duration", "iterations", "min_bytes", "keep_every", "keep_max"):
        if getattr(r, key) < 0:
            raise src.error("must not be negative", "readers", i, key)
    if not 1 <= r.parallel <= 64:
        raise src.error("must be 1..64", "readers", i, "parallel")
    if r.duration == 0 and r.iterations == 0:
        raise src.error("needs a positive 'duration' or 'iterations'", "readers", i, None)
