"""Console line parsing: split a kernel console line into prefix data and the message.

Handled forms (the message is what follows the prefix, with one separating space removed):

* ``[   12.345678] msg``                       plain printk timestamp
* ``[   12.345678][  T123] msg``               PRINTK_CALLER (task ``T`` or CPU ``C``)
* ``[   12.345678] [T123] msg``                caller id as a separate bracket
* ``[   12.345678] [pid:1,cpu0,init]msg``      vendor caller bracket (Android/vendor kernels)
* ``[   12.345678][0]msg``                       vendor CPU bracket glued to the timestamp
* ``<6>[   12.345678] msg``                    syslog level before the timestamp
* ``6,123,4567,-;msg`` / ``6,123,4567,-,caller=T1;msg``   raw ``/dev/kmsg`` records
  (timestamp in microseconds)
* ``[Mon Nov 27 12:00:00 2023] msg``          ``dmesg -T`` (also a serial terminal's own
  ``[2021/07/05, 13:43:52.334] msg`` stamps, and ``dmesg -H``'s ``[Mar 8 17:07]`` and
  relative ``[  +0.000005]`` stamps)
* ``Oct 11 06:07:26 host kernel: msg`` and ``2023-01-28T13:02:16.33+01:00 host kernel: msg``
  syslog / journal lines (host optional; any of the forms above may follow ``kernel:``);
  lines of other programs (``host sshd[12]: ...``) are user space (``prefixed=False``)
* ``2023-01-28T13:02:16.334241+01:00   [    6.05] msg``  an ISO time before a printk prefix
* ``2025-04-23T04:38:59Z msg``  an ISO time alone (remote logging)
* ``user text [  694.046913] msg``  a printk prefix after other text on the same line (the
  console interleaved user-space output with a kernel line): the kernel part is the message
* anything else: plain dmesg without prefix (the whole line is the message)

Trailing ``\\r`` is removed.  ``/dev/kmsg`` dictionary lines (`` SUBSYSTEM=pci``) are
reported with ``dictionary=True`` so callers can ignore them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ConsoleLine", "parse_line"]

_PRINTK_RE = re.compile(
    r"(?:<\d{1,3}>)?\[\s*(?P<ts>\d+\.\d+)\](?:\[\s*(?P<c1>[TC]\d+)\]| \[\s*(?P<c2>[TC]\d+)\])? ?"
)
_KMSG_RE = re.compile(
    r"(?P<lvl>\d+),(?P<seq>\d+),(?P<us>\d+),[^;,]*(?:,caller=(?P<caller>[TC]\d+))?[^;]*;"
)
_DMESG_T_RE = re.compile(
    r"\[(?:[A-Z][a-z]{2} [A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d \d{4}"
    r"|\d{4}[/-]\d\d[/-]\d\d,?[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"|\s*\+\d+\.\d+|[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d(?::\d\d)?)\] ?"
)
_KMSG_DICT_RE = re.compile(r" [A-Z_]+=")
# an ISO time alone before the message ("2025-04-23T04:38:59Z BUG: ..."; remote logging)
_ISO_ONLY_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d) ")
# a printk prefix in the middle of a line: kernel output that started after user-space text
_MIDLINE_PRINTK_RE = re.compile(r"\[\s*\d+\.\d{6}\](?:\[\s*[TC]\d+\])? ")
_SYSLOG_RE = re.compile(
    r"(?:(?:[A-Z][a-z]{2} [ \d]\d|\w{1,6} {1,2}\d{1,2}) \d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?)(?:\s+(?:(?:(?P<host>[\w.-]{1,64})\s+)?"
    r"(?P<prog>kernel|[\w.@/-]{1,64}(?:\[\d+\])?):|(?=\s*\[)))\s?"
)


@dataclass(slots=True)
class ConsoleLine:
    """One console line: ``raw`` as received (without the newline), ``msg`` without prefix."""

    raw: str
    msg: str
    ts: float | None
    caller: str | None
    prefixed: bool
    dictionary: bool = False


def _caller_at(raw: str, i: int) -> tuple[str | None, int]:
    """A ``[  T123]`` caller id starting at ``raw[i]`` (or ``raw[i+1]`` after a space)."""
    if raw.startswith(" [", i):
        i += 1
    elif not raw.startswith("[", i):
        return None, i
    if raw.startswith("[pid:", i):  # vendor kernels: "[pid:0,cpu0,swapper/0]"
        m = _VENDOR_CALLER_RE.match(raw, i)
        return (f"T{m.group(1)}", m.end()) if m else (None, i)
    end = raw.find("]", i, i + 14)
    if end < 0:
        return None, i
    cand = raw[i + 1 : end].strip()
    if len(cand) > 1 and cand[0] in "TC" and cand[1:].isdigit():
        return cand, end + 1
    if raw[i - 1] == "]" and 0 < end - i - 1 <= 4 and raw[i + 1 : end].isdigit():
        return f"C{raw[i + 1 : end]}", end + 1  # AVM/MIPS vendor kernels: "[  1.5][0]msg"
    return None, i


_VENDOR_CALLER_RE = re.compile(r"\[pid:(\d{1,10}),cpu\d{1,5},[^\]\s]{0,64}\]")


def parse_line(raw: str) -> ConsoleLine:
    """Parse one console line (no trailing newline)."""
    if raw.endswith("\r"):
        raw = raw.rstrip("\r")
    if not raw:
        return ConsoleLine(raw, "", None, None, False)
    first = raw[0]
    if first == "[":
        end = raw.find("]", 1, 40)
        if end > 0:
            text = raw[1:end]
            if "." in text and text.strip().replace(".", "", 1).isdigit():
                caller, i = _caller_at(raw, end + 1)
                if raw.startswith(" ", i):
                    i += 1
                return ConsoleLine(raw, raw[i:], float(text), caller, True)
        m = _DMESG_T_RE.match(raw)
        if m is not None:
            return ConsoleLine(raw, raw[m.end() :], None, None, True)
    elif first == "<":
        m = _PRINTK_RE.match(raw)
        if m is not None:
            caller = m.group("c1") or m.group("c2")
            return ConsoleLine(raw, raw[m.end() :], float(m.group("ts")), caller, True)
    elif first.isdigit():
        m = _KMSG_RE.match(raw)
        if m is not None:
            return ConsoleLine(
                raw, raw[m.end() :], int(m.group("us")) / 1e6, m.group("caller"), True
            )
    elif first == " " and _KMSG_DICT_RE.match(raw):
        return ConsoleLine(raw, raw, None, None, False, dictionary=True)
    if "] " in raw:
        mm = _MIDLINE_PRINTK_RE.search(raw, 1)
        if mm is not None:
            inner = parse_line(raw[mm.start() :])
            return ConsoleLine(raw, inner.msg, inner.ts, inner.caller, True, inner.dictionary)
    if first.isdigit():
        iso = _ISO_ONLY_RE.match(raw)
        if iso is not None and not raw[iso.end() :].lstrip().startswith("["):
            inner = parse_line(raw[iso.end() :])
            return ConsoleLine(raw, inner.msg, inner.ts, inner.caller, True, inner.dictionary)
    if first.isalnum():
        m = _SYSLOG_RE.match(raw)
        if m is not None:
            prog = m.group("prog")
            if prog is not None and prog != "kernel":
                return ConsoleLine(raw, raw[m.end() :], None, None, False)  # another program
            inner = parse_line(raw[m.end() :])
            return ConsoleLine(raw, inner.msg, inner.ts, inner.caller, True, inner.dictionary)
    return ConsoleLine(raw, raw, None, None, False)
