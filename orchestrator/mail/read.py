"""Turn a mail file into message bodies as lines that remember where they came from.

Accepted input (``read_mail``):

* an mbox or thread mbox (first line ``From ...``): every message, through ``mailbox``;
* a raw message (``.eml``: RFC 5322 headers first), through ``email`` with policy default,
  which undoes base64 and quoted-printable; a multipart message gives its text/plain parts;
* anything else is plain text, e.g. a mailing-list archive page saved from a browser.

Each body becomes a :class:`Body` of :class:`SrcLine` values.  A line's ``where`` names the
input file and, when the body was not transfer-encoded, the file line it came from; for
base64 / quoted-printable bodies it names the message and the decoded body line instead.
``format=flowed`` bodies (RFC 3676) have their soft line breaks joined here.
A message whose only text is HTML is recorded in ``html_only`` (callers say so, exit 3).
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import sys
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path

from orchestrator.errors import InvalidInput

_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]")
MAX_MAIL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SrcLine:
    """One line of a message body and where it came from (``file:line`` or message/line)."""

    text: str
    where: str


@dataclass
class Body:
    """The text of one message (or of a whole saved page)."""

    label: str  # "message 2 (Re: ... from Kees Cook)" or the file name
    lines: list[SrcLine]
    encoding: str = ""  # Content-Transfer-Encoding when there was one


@dataclass
class Mail:
    """Everything read from one input."""

    name: str
    kind: str  # "mbox", "message", "text"
    bodies: list[Body] = field(default_factory=list)
    html_only: list[str] = field(default_factory=list)  # labels of messages with only HTML
    subjects: list[str] = field(default_factory=list)


def read_mail(spec: str) -> Mail:
    """Read ``spec`` (a path, or ``-`` for stdin); InvalidInput when it cannot be read."""
    if spec == "-":
        data = sys.stdin.buffer.read(MAX_MAIL_BYTES + 1)
        name = "<stdin>"
    else:
        path = Path(spec)
        if not path.is_file():
            raise InvalidInput(f"{spec} does not exist or is not a file", field="MAIL",
                               reason="no-mail")
        data = path.read_bytes()[: MAX_MAIL_BYTES + 1]
        name = str(path)
    if len(data) > MAX_MAIL_BYTES:
        raise InvalidInput(f"{name} is larger than {MAX_MAIL_BYTES} bytes", field="MAIL",
                           reason="mail-too-large")
    return parse_mail(data, name)


def parse_mail(data: bytes, name: str) -> Mail:
    """Parse mail bytes (see the module docstring for the formats)."""
    if data.startswith(b"From "):
        return _read_mbox(data, name)
    first = data.lstrip(b"\r\n").split(b"\n", 1)[0]
    if _HEADER_LINE.match(first) and b"\n\n" in data.replace(b"\r\n", b"\n"):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out = Mail(name, "message")
        _add_message(out, msg, 1, name, file_offset=_body_offset(data))
        return out
    text = data.decode("utf-8", errors="replace")
    lines = [SrcLine(t, f"{name}:{n}") for n, t in enumerate(text.splitlines(), start=1)]
    return Mail(name, "text", [Body(name, lines)])


def _body_offset(data: bytes) -> int:
    """Number of lines before a raw message's body (headers plus the blank line)."""
    norm = data.replace(b"\r\n", b"\n")
    return norm[: norm.index(b"\n\n")].count(b"\n") + 2


def _read_mbox(data: bytes, name: str) -> Mail:
    out = Mail(name, "mbox")
    with tempfile.NamedTemporaryFile(prefix="pgo-mbox-", suffix=".mbox") as tmp:
        tmp.write(data)
        tmp.flush()
        box = mailbox.mbox(tmp.name, factory=None, create=False)
        try:
            for i, raw in enumerate(box, start=1):
                msg = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
                _add_message(out, msg, i, name, file_offset=None)
        finally:
            box.close()
    if not out.bodies and not out.html_only:
        raise InvalidInput(f"{name}: an mbox without any message", field="MAIL",
                           reason="empty-mbox")
    return out


def _add_message(out: Mail, msg: Message, index: int, name: str,
                 file_offset: int | None) -> None:
    subject = str(msg.get("Subject", "") or "")
    sender = str(msg.get("From", "") or "")
    out.subjects.append(subject)
    label = f"message {index}"
    if subject or sender:
        label += f" ({subject[:60]}{', from ' + sender[:40] if sender else ''})"
    plain: list[tuple[str, str, bool]] = []  # text, encoding, flowed
    html = False
    parts = list(msg.walk()) if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part.get_content_disposition() == "attachment" and ctype not in (
                "text/plain", "text/x-patch", "text/x-diff"):
            continue
        if ctype in ("text/plain", "text/x-patch", "text/x-diff"):
            plain.append((_content(part), str(part.get("Content-Transfer-Encoding", "")).lower(),
                          str(part.get_param("format", "") or "").lower() == "flowed"))
        elif ctype == "text/html":
            html = True
    if not plain:
        if html:
            out.html_only.append(label)
        return
    for n, (text, enc, flowed) in enumerate(plain):
        encoded = enc in ("base64", "quoted-printable")
        raw_lines = text.splitlines()
        if flowed:
            raw_lines = _unflow(raw_lines)
        lines: list[SrcLine] = []
        for ln, t in enumerate(raw_lines, start=1):
            if file_offset is not None and not encoded and not flowed and len(plain) == 1:
                where = f"{name}:{file_offset + ln - 1}"
            else:
                part_txt = f" part {n + 1}" if len(plain) > 1 else ""
                how = f" ({enc})" if encoded else ""
                where = f"{name}: {label.split(' (')[0]}{part_txt} body line {ln}{how}"
            lines.append(SrcLine(t, where))
        out.bodies.append(Body(label, lines, enc))


def _content(part: Message) -> str:
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            content = None
        if isinstance(content, str):
            return content
        if isinstance(content, bytes):
            return content.decode("utf-8", errors="replace")
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return str(part.get_payload())


def _unflow(lines: list[str]) -> list[str]:
    """RFC 3676: a line ending in a space continues on the next one (except ``-- ``)."""
    out: list[str] = []
    cur: str | None = None
    for line in lines:
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if cur is None:
            cur = line
        else:
            cur += line
        if cur.endswith(" ") and cur != "-- ":
            continue
        out.append(cur)
        cur = None
    if cur is not None:
        out.append(cur)
    return out
