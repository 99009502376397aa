"""From a mail to facts: the kernel report(s) through the detector, their context, the
options they imply, the paths the mail quotes and the patch it carries.

Every message body is looked at twice: the author's own lines, then the quoted lines (a reply
quoting the report).  Both views have mail wrapping undone before the existing detector
(``orchestrator.detect``) reads them.  A report found in the author's text wins over the same
report (same stable key) found quoted.  Reports from another architecture, fragments without
a call trace, HTML-only mails and mails without a report are ``UnusableMail`` (exit 3), whose
message says what was found instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.detect import Finding, detect_text
from orchestrator.errors import InvalidInput
from orchestrator.mail.patch import MailPatch, find_patch
from orchestrator.mail.read import Mail, SrcLine
from orchestrator.mail.text import own_view, quoted_view, unwrap
from orchestrator.workflows.reproduce.facts import RULE, TEXT, Fact, MailReport
from orchestrator.workflows.reproduce.implied import implied, load_rules


class UnusableMail(InvalidInput):
    """No usable kernel report in the mail (exit 3); the message says what was found."""

    def __init__(self, message: str, *, reason: str = "no-report") -> None:
        super().__init__(message, field="MAIL", reason=reason)


_CPU_LINE = re.compile(r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.{1,16}?)"
                       r" (?:Not tainted|Tainted: (?P<taint>[A-Z][A-Z ]*?))\s+(?P<release>\d\S*)")
_NAME_LINE = re.compile(r"pid: (?P<pid>\d+), name: (?P<comm>\S.{0,15}?)\s*$")
_HW_LINE = re.compile(r"Hardware name: (?P<hw>.+?)\s*$")
_ATOMIC = re.compile(r"in_atomic\(\): (?P<atomic>\d+), irqs_disabled\(\): (?P<irqs>\d+)")
_BASE_COMMIT = re.compile(r"^\s*base-commit: (?P<commit>[0-9a-f]{7,40})\s*$")
_ARM64 = re.compile(r"(?:^|\s)(?:pstate: [0-9a-f]{8}|pc : \S+\+0x|lr : \S+\+0x|x29: [0-9a-f]{16}"
                    r"|Hardware name: .*\(DT\)|el[01]h_64_sync|el0t_64_sync|Internal error: Oops)")
_X86 = re.compile(r"(?:RIP: 00[13]0:|Hardware name: QEMU Standard PC|entry_SYSCALL_64|"
                  r"do_syscall_64|asm_exc_|RAX: [0-9a-f]{16})")
_RISCV = re.compile(r"(?:epc : \S+\+0x|ra : \S+\+0x|status: [0-9a-f]{16} badaddr:)")
#: paths a mail may quote for the file that was opened
_PATH = re.compile(r"(?<![\w/.])(/(?:sys/kernel/debug|proc|sys|dev)/[A-Za-z0-9_./+-]+[A-Za-z0-9_])")


@dataclass
class Extracted:
    """What ``pgo-orch reproduce`` learned from a mail (before looking at a tree)."""

    mail: str
    kind: str
    messages: int
    reports: list[MailReport]
    facts: list[Fact] = field(default_factory=list)  # mail-wide: base-commit, quoted paths
    options: list[Fact] = field(default_factory=list)
    patch: MailPatch | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"mail": self.mail, "kind": self.kind, "messages": self.messages,
                "reports": [r.to_json() for r in self.reports],
                "facts": [f.to_json() for f in self.facts],
                "options": [f.to_json() for f in self.options],
                "patch": self.patch.to_json() if self.patch else None, "notes": self.notes}


def extract(mail: Mail) -> Extracted:
    """The facts of ``mail``; UnusableMail (exit 3) when it holds no usable x86 report."""
    if not mail.bodies:
        if mail.html_only:
            raise UnusableMail(f"{mail.name}: the mail has only an HTML body "
                               f"({', '.join(mail.html_only)}); pgo-orch reads plain-text "
                               "mails only (kernel mailing lists reject HTML): save it as "
                               "plain text", reason="html-only")
        raise UnusableMail(f"{mail.name}: no message text found")
    views: list[tuple[bool, list[SrcLine]]] = []
    for body in mail.bodies:
        views.append((False, unwrap(own_view(body.lines))))
    for body in mail.bodies:
        views.append((True, unwrap(quoted_view(body.lines))))
    found: dict[str, MailReport] = {}
    fragments: list[tuple[Finding, str]] = []
    for quoted, view in views:
        # a line after the body ends a trace that runs to the end of the message
        for f in detect_text("\n".join(ln.text for ln in view) + "\n\n(end of message)\n"):
            where = view[f.line - 1].where if 0 < f.line <= len(view) else mail.name
            if f.guilty is None or "(corrupted)" in f.title:
                fragments.append((f, where))
                continue
            if f.key not in found:
                found[f.key] = _report(f, view, where, quoted)
                if f.corrupted:  # the author cut the trace, but the guilty frame is there
                    found[f.key].facts.append(Fact(
                        "trace-cut", True, RULE, where, "",
                        "the call trace in the mail is incomplete; the title comes from the "
                        "frames it has"))
    patch = None
    for raw_view in [own_view(b.lines) for b in mail.bodies] + [quoted_view(b.lines)
                                                               for b in mail.bodies]:
        patch = find_patch(raw_view)  # as written: a patch is never unwrapped
        if patch is not None:
            break
    out = Extracted(mail.name, mail.kind, len(mail.bodies) + len(mail.html_only),
                    list(found.values()), patch=patch)
    _mail_facts(out, views)
    if not out.reports:
        for f, where in fragments:
            got = _arch_of(f.report)
            if got is not None and got[0] != "x86_64":
                raise UnusableMail(
                    f"{mail.name}: the report at {where} is from an {got[0]} kernel ('"
                    f"{got[1].strip()}'); pgo-orch builds and boots x86_64 kernels only (and "
                    "CONFIG_PGO_CLANG is x86_64-only)", reason="foreign-arch")
        raise UnusableMail(_nothing_found(mail, fragments, patch, out))
    foreign = [r for r in out.reports if r.arch != "x86_64"]
    if len(foreign) == len(out.reports):
        r = foreign[0]
        afact = r.fact("arch")
        said = f" ({afact.where}: '{afact.line}')" if afact else ""
        raise UnusableMail(
            f"{mail.name}: the report '{r.title}' ({r.where}) is from an {r.arch} kernel"
            f"{said}; pgo-orch builds and boots "
            "x86_64 kernels only (and CONFIG_PGO_CLANG is x86_64-only)", reason="foreign-arch")
    for r in foreign:
        out.notes.append(f"skipped '{r.title}' ({r.where}): an {r.arch} report")
    out.reports = [r for r in out.reports if r.arch == "x86_64"]
    _options(out)
    return out


def _nothing_found(mail: Mail, fragments: Sequence[tuple[Finding, str]],
                   patch: MailPatch | None, ex: Extracted) -> str:
    what: list[str] = []
    if fragments:
        f, where = fragments[0]
        what.append(f"only a fragment of a report: '{f.title}' at {where} has no usable call "
                    "trace")
    if mail.html_only:
        what.append(f"HTML-only messages: {', '.join(mail.html_only)}")
    if patch is not None:
        what.append(f"a patch touching {', '.join(patch.files)} ({patch.where})")
    paths = [f.value for f in ex.facts if f.name == "quoted-path"]
    if paths:
        what.append(f"paths {', '.join(map(str, paths[:3]))}")
    found = "; found " + "; ".join(what) if what else "; found only prose"
    lines = sum(len(b.lines) for b in mail.bodies)
    return (f"{mail.name}: no kernel report with a call trace in {len(mail.bodies)} message "
            f"bod{'y' if len(mail.bodies) == 1 else 'ies'} ({lines} lines){found}")


def _report(f: Finding, view: list[SrcLine], where: str, quoted: bool) -> MailReport:
    reliable = [fr.func for fr in f.frames if fr.reliable]
    callers: list[str] = []
    if f.guilty in reliable:
        callers = [fn for fn in reliable[reliable.index(f.guilty) + 1:] if fn != f.guilty]
    rep = MailReport(f.key, f.klass, f.title, f.guilty, reliable, _dedup(callers), where,
                     quoted, "x86_64", f.report)
    lines = _report_lines(f, view)
    rep.facts.append(Fact("report", f.title, TEXT, where, lines[0].text.strip() if lines else "",
                          f"detector class {f.klass}, guilty frame {f.guilty}"))
    _context(rep, lines)
    return rep


def _dedup(items: list[str]) -> list[str]:
    seen: list[str] = []
    for x in items:
        if x not in seen:
            seen.append(x)
    return seen


def _report_lines(f: Finding, view: list[SrcLine]) -> list[SrcLine]:
    """The view lines of a report (the detector keeps the text; we want the sources)."""
    wanted = f.report.splitlines()
    out: list[SrcLine] = []
    i = max(0, f.line - 1)
    for text in wanted:
        while i < len(view) and view[i].text.rstrip("\r") != text:
            i += 1
        if i >= len(view):
            break
        out.append(view[i])
        i += 1
    return out


def _context(rep: MailReport, lines: list[SrcLine]) -> None:
    def add(name: str, value: Any, ln: SrcLine, how: str = TEXT, why: str = "") -> None:
        if rep.fact(name) is None:
            rep.facts.append(Fact(name, value, how, ln.where, ln.text.strip(), why))

    for ln in lines:
        t = ln.text
        m = _CPU_LINE.search(t)
        if m:
            cpu = int(m.group("cpu"))
            add("comm", m.group("comm"), ln)
            add("cpu", cpu, ln)
            add("vcpus", max(2, cpu + 1), ln, RULE,
                f"the report ran on CPU {cpu}: at least {cpu + 1} vCPUs (and 2 for a race)")
            add("taint", " ".join((m.group("taint") or "").split()), ln)
            add("release", m.group("release"), ln)
        m = _NAME_LINE.search(t)
        if m:
            add("comm", m.group("comm"), ln)
        m = _HW_LINE.search(t)
        if m:
            hw = m.group("hw")
            add("hardware", hw, ln)
            machine = ("q35" if "Q35" in hw else "i440fx" if "i440FX" in hw.replace("i440fx",
                       "i440FX") else "")
            if machine:
                add("machine", machine, ln, RULE, f"'{hw.split(',')[0]}' is QEMU's {machine}")
        m = _ATOMIC.search(t)
        if m:
            atomic, irqs = int(m.group("atomic")), int(m.group("irqs"))
            add("in_atomic", atomic, ln)
            add("irqs_disabled", irqs, ln)
            if atomic and irqs:
                add("lock", "an irq-disabling lock was held (spin_lock_irqsave or similar)",
                    ln, RULE, "in_atomic() and irqs_disabled() were both 1")
        for rx, arch in ((_ARM64, "arm64"), (_RISCV, "riscv64"), (_X86, "x86_64")):
            if rx.search(t) and rep.fact("arch") is None:
                add("arch", arch, ln, RULE, f"a line only {arch} kernels print")
                rep.arch = arch


def _arch_of(text: str) -> tuple[str, str] | None:
    """(architecture, the line that says so) for a report's text, if a line says."""
    for line in text.splitlines():
        for rx, arch in ((_ARM64, "arm64"), (_RISCV, "riscv64"), (_X86, "x86_64")):
            if rx.search(line):
                return arch, line
    return None


def _mail_facts(out: Extracted, views: list[tuple[bool, list[SrcLine]]]) -> None:
    seen_paths: set[str] = set()
    for _quoted, view in views:
        for ln in view:
            m = _BASE_COMMIT.match(ln.text)
            if m and not any(f.name == "base-commit" for f in out.facts):
                out.facts.append(Fact("base-commit", m.group("commit"), TEXT, ln.where,
                                      ln.text.strip()))
            for pm in _PATH.finditer(ln.text):
                path = pm.group(1)
                if path not in seen_paths and not ln.text.startswith(("+++", "---")):
                    seen_paths.add(path)
                    out.facts.append(Fact("quoted-path", path, TEXT, ln.where, ln.text.strip()))


def _options(out: Extracted) -> None:
    rules = load_rules()
    seen: set[str] = set()
    for rep in out.reports:
        for opt, rule, what in implied(rep.klass, _all_frames(rep), rules):
            name = opt.split("=", 1)[0]
            if name in seen:
                continue
            seen.add(name)
            src = rep.fact("report")
            where = rep.where
            line = src.line if src else ""
            if rule.kind == "frame":
                hit = next((ln for ln in rep.text.splitlines() if what in ln), "")
                line = hit.strip()
            out.options.append(Fact("option", opt, RULE, where, line,
                                    f"{rule.kind} {what} matches '{rule.match}': {rule.why}"))


def _all_frames(rep: MailReport) -> list[str]:
    """Every function in the trace, '?' frames too (a symbol that exists says enough)."""
    funcs: list[str] = []
    for ln in rep.text.splitlines():
        m = re.match(r"^\s*(?:\?\s+)?([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+/0x", ln.strip(" >"))
        if m:
            name = re.sub(r"\.(?:isra|constprop|part|cold|llvm)\b.*$", "", m.group(1))
            if name not in funcs:
                funcs.append(name)
    return funcs
