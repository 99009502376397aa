"""Config fragments: parsing, lookup by name, and the options they request.

A fragment is a file of ``CONFIG_X=value`` and ``# CONFIG_X is not set`` lines; blank lines
and other comments are allowed.  Anything else is invalid input naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InvalidInput
from orchestrator.paths import KERNEL_CONFIGS

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VALUE = re.compile(r'^(y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$')


@dataclass(frozen=True)
class Request:
    """One option a fragment or ``-K`` asks for: ``value`` is ``"n"`` for "is not set"."""

    symbol: str
    value: str
    source: str  # "path:line" or "-K"

    @property
    def line(self) -> str:
        """The option as a .config line."""
        if self.value == "n":
            return f"# {self.symbol} is not set"
        return f"{self.symbol}={self.value}"


@dataclass(frozen=True)
class Fragment:
    name: str
    path: Path
    requests: tuple[Request, ...]

    @property
    def text(self) -> str:
        return read_text(self.path)


def parse_line(
    text: str, source: str, *, path: str | None = None, lineno: int | None = None
) -> Request | None:
    """Parse one fragment line; None for blank lines and plain comments."""
    line = text.strip()
    if not line:
        return None
    m = _UNSET.match(line)
    if m:
        return Request(m.group(1), "n", source)
    if line.startswith("#"):
        if re.match(r"^#\s*CONFIG_", line):
            raise InvalidInput(
                f"malformed option line {line!r}: expected '# CONFIG_X is not set'",
                path=path,
                line=lineno,
                field="option",
                reason="malformed-fragment",
            )
        return None
    m = _SET.match(line)
    if not m:
        raise InvalidInput(
            f"malformed option line {line!r}: expected CONFIG_X=value or '# CONFIG_X is not set'",
            path=path,
            line=lineno,
            field="option",
            reason="malformed-fragment",
        )
    value = m.group(2)
    if not _VALUE.match(value):
        raise InvalidInput(
            f"bad value {value!r} for {m.group(1)}: expected y, m, n, a number, or a quoted string",
            path=path,
            line=lineno,
            field=m.group(1),
            reason="malformed-fragment",
        )
    return Request(m.group(1), value, source)


def read_text(path: Path, what: str = "fragment") -> str:
    """The UTF-8 text of a config input; InvalidInput naming the file (and line) otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = "unreadable-" + what.replace(" ", "-")
        raise InvalidInput(f"cannot read {what}: {exc.strerror}", path=str(path),
                           reason=reason) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})",
            path=str(path), line=data[: exc.start].count(b"\n") + 1,
            reason="not-utf8",
        ) from exc


def parse_fragment(path: Path, name: str | None = None) -> Fragment:
    text = read_text(path)
    requests = []
    for n, raw in enumerate(text.splitlines(), start=1):
        req = parse_line(raw, f"{path}:{n}", path=str(path), lineno=n)
        if req is not None:
            requests.append(req)
    return Fragment(name or path.name, path, tuple(requests))


def available_fragments(directory: Path = KERNEL_CONFIGS) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"
    )


def resolve_fragment(spec: str, directory: Path = KERNEL_CONFIGS) -> Fragment:
    """A fragment by name (a file in kernel-configs/) or by path (contains a '/' or exists)."""
    if "/" in spec or spec.endswith(".config"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise InvalidInput(
                f"fragment file {spec} does not exist", field="fragment", reason="unknown-fragment"
            )
        return parse_fragment(path.resolve(), spec)
    if not _NAME.match(spec) or not (directory / spec).is_file():
        known = ", ".join(available_fragments(directory)) or "none"
        raise InvalidInput(
            f"unknown fragment {spec!r} (known in {directory}: {known}; or give a path)",
            field="fragment",
            reason="unknown-fragment",
        )
    return parse_fragment(directory / spec, spec)


def parse_option(spec: str) -> Request:
    """A single ``-K`` option: ``CONFIG_X=y``, ``X=y`` or ``CONFIG_X=n``."""
    text = spec.strip()
    if text and not text.startswith("CONFIG_") and not text.startswith("#"):
        text = "CONFIG_" + text
    try:
        req = parse_line(text, "-K")
    except InvalidInput as exc:
        raise InvalidInput(
            f"bad -K option {spec!r}: {exc.message}", field="-K", reason="malformed-option"
        ) from exc
    if req is None:
        raise InvalidInput(f"bad -K option {spec!r}", field="-K", reason="malformed-option")
    return req


def merged_requests(fragments: list[Fragment], options: list[Request]) -> dict[str, Request]:
    """Every requested option, later fragments and -K options overriding earlier ones."""
    out: dict[str, Request] = {}
    for frag in fragments:
        for req in frag.requests:
            out[req.symbol] = req
    for req in options:
        out[req.symbol] = req
    return out
