"""Reading a series: an mbox, a thread mbox, a directory of ``.patch`` files or ``BASE..TIP``.

Mail is never parsed here: thread mboxes go through b4 offline (``b4 am -m``: newest
revision, patch order, replies dropped, trailers collected), and single messages are split
and read by git's own ``git mailsplit`` and ``git mailinfo``. b4 needs Message-Id headers;
plain ``git format-patch --stdout`` output has none, so such an mbox is split by
``git mailsplit`` directly (and the series says so in its notes).

Every patch ends up as one mail file under ``<work>/patches/NNNN.patch`` that ``git am``
applies, with its subject, author, message id and the sha256 of its diff.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import InfraError, InvalidInput, ToolMissing
from orchestrator.git import git, git_try, resolve_commit

_BASE_COMMIT = re.compile(r"^base-commit: ([0-9a-f]{7,40})\s*$", re.MULTILINE)


@dataclass
class Patch:
    """One patch of the series, in application order (``number`` counts from 1)."""

    number: int
    subject: str
    author: str
    message_id: str | None
    file: Path  # one mail (or format-patch file) that ``git am`` applies
    sha256: str  # of the diff, as KCIDB's patchset hash wants
    commit: str | None = None  # the commit once applied (for a range: the commit itself)

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "subject": self.subject, "author": self.author,
                "message_id": self.message_id, "file": str(self.file), "sha256": self.sha256,
                "commit": self.commit}


@dataclass
class SeriesInput:
    kind: str  # "mbox", "thread", "directory" or "range"
    source: str
    patches: list[Patch]
    base_hint: str | None = None  # base-commit: from the mails, or the range's BASE
    notes: list[str] = field(default_factory=list)

    @property
    def patchset_hash(self) -> str:
        """sha256 over the newline-terminated sha256 of each patch (KCIDB's definition)."""
        return hashlib.sha256("".join(p.sha256 + "\n" for p in self.patches).encode()
                              ).hexdigest()


def read_series(spec: str, tree: Path, work: Path) -> SeriesInput:
    """Read SERIES into ``work/patches``; InvalidInput (exit 3) when it is not a series."""
    path = Path(spec).expanduser()
    out = work / "patches"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if path.is_dir():
        return _from_directory(path, out)
    if path.is_file():
        return _from_mbox(path, out)
    if ".." in spec and not path.exists():
        return _from_range(spec, tree, out)
    raise InvalidInput("neither an mbox file, a directory of .patch files nor a git range "
                       "BASE..TIP", field="SERIES", path=spec, reason="bad-series")


def _split(mbox: Path, dest: Path) -> list[Path]:
    """``git mailsplit`` ``mbox`` into numbered files in ``dest`` (mboxrd quoting undone)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = git_try(dest, "mailsplit", "--mboxrd", "-d4", f"-o{dest}", str(mbox))
    if proc.returncode != 0:
        raise InvalidInput(f"not an mbox: git mailsplit says: {proc.stderr.strip()}",
                           path=str(mbox), reason="corrupt-mbox")
    return sorted(p for p in dest.iterdir() if p.name.isdigit())


def _info(mail: Path, scratch: Path) -> tuple[dict[str, str], str, str | None]:
    """``git mailinfo`` of one mail: its header fields, its diff and its Message-ID."""
    msg, patch = scratch / "msg", scratch / "patch"
    proc = git_try(scratch, "mailinfo", "--message-id", str(msg), str(patch),
                   input_text=mail.read_text(errors="replace"))
    if proc.returncode != 0:
        raise InvalidInput(f"git mailinfo cannot read this mail: {proc.stderr.strip()}",
                           path=str(mail), reason="corrupt-mbox")
    fields: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    message_id = None
    for line in msg.read_text(errors="replace").splitlines():
        if line.lower().startswith("message-id:"):
            message_id = line.split(":", 1)[1].strip()
    return fields, patch.read_text(errors="replace"), message_id


def _patches_from_mails(mails: list[Path], out: Path, origin: str) -> list[Patch]:
    scratch = out / ".info"
    scratch.mkdir(exist_ok=True)
    patches: list[Patch] = []
    for mail in mails:
        fields, diff, message_id = _info(mail, scratch)
        if not diff.strip():
            continue  # a cover letter or a reply: no diff to apply
        number = len(patches) + 1
        dest = out / f"{number:04d}.patch"
        shutil.copyfile(mail, dest)
        author = fields.get("Author", "")
        if fields.get("Email"):
            author = f"{author} <{fields['Email']}>".strip()
        patches.append(Patch(number, fields.get("Subject", "(no subject)"), author,
                             message_id, dest, hashlib.sha256(diff.encode()).hexdigest()))
    shutil.rmtree(scratch, ignore_errors=True)
    if not patches:
        raise InvalidInput("no patches found (no message carries a diff)", path=origin,
                           reason="no-patches")
    return patches


def _from_directory(path: Path, out: Path) -> SeriesInput:
    files = sorted(p for p in path.iterdir() if p.suffix == ".patch" and p.is_file())
    if not files:
        raise InvalidInput("no .patch files in this directory", path=str(path),
                           reason="no-patches")
    mails = []
    for f in files:
        if not f.read_text(errors="replace").strip():
            raise InvalidInput("empty patch file", path=str(f), reason="no-patches")
        mails.append(f)
    patches = _patches_from_mails(mails, out, str(path))
    text = "\n".join(f.read_text(errors="replace") for f in files)
    return SeriesInput("directory", str(path), patches, _base_from_text(text, str(path)))


def _base_from_text(text: str, origin: str) -> str | None:
    bases = sorted(set(_BASE_COMMIT.findall(text)))
    if len(bases) > 1:
        raise InvalidInput(f"the series names several bases ({', '.join(bases)}); pass --base",
                           path=origin, field="base-commit", reason="ambiguous-base")
    return bases[0] if bases else None

#: b4 am works offline on a local file; longer than this is a hang
B4_TIMEOUT_S = 300


def _b4() -> str | None:
    """The b4 program installed with pgo-orch (same venv), else one on PATH."""
    beside = Path(sys.executable).parent / "b4"
    return str(beside) if beside.exists() else shutil.which("b4")


def _from_mbox(path: Path, out: Path) -> SeriesInput:
    raw = path.read_bytes()
    if not raw.strip():
        raise InvalidInput("empty mbox", path=str(path), reason="empty-mbox")
    if not raw.startswith(b"From "):
        raise InvalidInput("not an mbox: the first line must be a 'From ' separator line",
                           path=str(path), line=1, reason="corrupt-mbox")
    text = raw.decode(errors="replace")
    b4 = _b4()
    if b4 is None:
        raise ToolMissing("b4", "pip install b4 (a pgo-orch dependency)")
    b4_out = out / ".b4"
    b4_out.mkdir()
    # cwd outside any repository: b4 reads the git config of its cwd, never the user's tree
    argv = [b4, "--no-stdin", "--offline-mode", "--no-interactive", "am",
            "-m", str(path.resolve()), "-o", str(b4_out)]
    try:
        proc = subprocess.run(argv,
                              cwd=b4_out, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=B4_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"b4 am did not finish within {B4_TIMEOUT_S} s reading {path}",
                         reason="b4-timeout") from exc
    except FileNotFoundError as exc:  # found by _b4, gone (or not runnable) since
        raise ToolMissing("b4", "pip install b4 (a pgo-orch dependency)") from exc
    (out / "b4.log").write_text(proc.stdout + proc.stderr)
    mbx = sorted(b4_out.glob("*.mbx"))
    notes: list[str] = []
    if proc.returncode == 0 and mbx:
        kind = "thread"
        mails = _split(mbx[0], out / ".split")
        # the chosen revision's cover letter and patches, not older revisions in the thread
        chosen = "\n".join(f.read_text(errors="replace") for f in sorted(b4_out.iterdir()))
        base = _base_from_text(chosen, str(path))
        notes.append(f"read with b4 am (offline): {mbx[0].name}")
    else:
        # b4 finds a thread by Message-Id; format-patch --stdout without --thread has none
        kind = "mbox"
        mails = _split(path, out / ".split")
        base = _base_from_text(text, str(path))
        notes.append("b4 found no thread (no Message-Id headers); split with git mailsplit")
    patches = _patches_from_mails(mails, out, str(path))
    shutil.rmtree(out / ".split", ignore_errors=True)
    return SeriesInput(kind, str(path), patches, base, notes)


def _from_range(spec: str, tree: Path, out: Path) -> SeriesInput:
    left, _, right = spec.partition("..")
    if not left or not right or right.startswith("."):
        raise InvalidInput(f"{spec!r} is not BASE..TIP", field="SERIES", reason="bad-series")
    base = resolve_commit(tree, left, field="SERIES")
    tip = resolve_commit(tree, right, field="SERIES")
    listing = git(tree, "rev-list", "--reverse", "--parents", f"{base}..{tip}").split("\n")
    commits = []
    for line in filter(None, listing):
        ids = line.split()
        if len(ids) != 2:
            raise InvalidInput(f"{spec}: commit {ids[0][:12]} is a merge; a series must be "
                               "linear", field="SERIES", reason="bad-series")
        commits.append(ids[0])
    if not commits:
        raise InvalidInput(f"{spec}: no commits in this range", field="SERIES",
                           reason="no-patches")
    if git(tree, "merge-base", base, tip).strip() != base:
        raise InvalidInput(f"{spec}: {left} is not an ancestor of {right}", field="SERIES",
                           reason="bad-series")
    patches = []
    for number, commit in enumerate(commits, start=1):
        subject, author = git(tree, "log", "-1", "--format=%s%n%an <%ae>", commit
                              ).splitlines()[:2]
        mail = git(tree, "format-patch", "-1", "--stdout", commit)
        dest = out / f"{number:04d}.patch"
        dest.write_text(mail)
        diff = git(tree, "diff-tree", "-p", "--no-commit-id", commit)
        patches.append(Patch(number, subject, author, None, dest,
                             hashlib.sha256(diff.encode()).hexdigest(), commit))
    return SeriesInput("range", spec, patches, base)
