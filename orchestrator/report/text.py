"""Console text made safe for report files (XML 1.0 characters, encodable UTF-8)."""

from __future__ import annotations

import re

#: characters XML 1.0 forbids, plus lone surrogates (undecodable bytes) that UTF-8 cannot hold
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    if 0xDC80 <= c <= 0xDCFF:  # a byte kept by surrogateescape
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clean(text: str) -> str:
    """``text`` with forbidden characters shown as ``\\xNN`` escapes."""
    return _BAD.sub(_escape, text)
