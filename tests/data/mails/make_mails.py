"""Regenerate the mail variants in this directory from the seed report (run by hand).

    python tests/data/mails/make_mails.py [SEED]

SEED defaults to ../shared/reports/pgo-prf_open-sleep-in-atomic.lore.txt beside the project
root (then /work/shared/...).  The first message of the seed (a patch mail with a splat) is
cut out of the saved archive page and re-encoded in the ways mail reaches people.
``own-fix.diff`` is ``git diff pgo-fixtures/0001 pgo-clang/0007`` of the default tree (the fix
of our own fixture series) and goes into ``own-fix.eml``.
"""

from __future__ import annotations

import base64
import quopri
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
HEAD = ("From: Jarmo Tiitto <jarmo.tiitto@example.invalid>\n"
        "To: Kees Cook <kees@example.invalid>\n"
        "Date: Thu, 03 Jun 2021 18:53:17 +0300\n"
        "Message-ID: <{mid}@example.invalid>\n"
        "Subject: {subject}\n"
        "MIME-Version: 1.0\n")
SUBJECT = "[PATCH v2 1/1] pgo: Fix sleep in atomic section in prf_open()"


def seed_path() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    for p in (ROOT.parent / "shared" / "reports", Path("/work/shared/reports")):
        f = p / "pgo-prf_open-sleep-in-atomic.lore.txt"
        if f.is_file():
            return f
    raise SystemExit("seed report not found")


def first_message(page: str) -> str:
    """The body of the first message: from after its headers to its permalink line."""
    lines = page.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("In prf_open()"))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("^ permalink"))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def plain(mid: str, body: str, subject: str = SUBJECT, extra: str = "") -> str:
    return (HEAD.format(mid=mid, subject=subject) + extra
            + "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n" + body)


def wrap72(body: str) -> str:
    out: list[str] = []
    in_diff = False
    for ln in body.splitlines():
        in_diff = in_diff or ln.startswith("diff --git")
        if len(ln) > 72 and not in_diff:
            out += textwrap.wrap(ln, 72, break_long_words=False, break_on_hyphens=False,
                                 drop_whitespace=True) or [ln]
        else:
            out.append(ln)
    return "\n".join(out) + "\n"


def main() -> None:
    page = seed_path().read_text()
    body = first_message(page)
    trace = body[body.index("======"):body.index("======", body.index("======") + 6) + 6]
    quoted = "".join(f"> {ln}\n" if ln else ">\n" for ln in body.splitlines())
    review = ("On Thu, Jun 03, 2021 at 06:53:17PM +0300, Jarmo Tiitto wrote:\n" + quoted
              + "\nThis can just be ENOMEM instead.\n\n-- \nKees Cook\n")
    (HERE / "seed-quoted-reply.eml").write_text(plain("reply1", review, "Re: " + SUBJECT))
    (HERE / "seed-wrapped-72.eml").write_text(plain("wrap1", wrap72(body)))
    mbox = ("From jarmo Thu Jun  3 15:53:17 2021\n" + plain("t1", body) + "\n"
            "From kees Thu Jun  3 21:47:00 2021\n"
            + plain("t2", review, "Re: " + SUBJECT, "In-Reply-To: <t1@example.invalid>\n")
            + "\n")
    (HERE / "seed-thread.mbox").write_text(mbox)
    b64 = base64.encodebytes(body.encode()).decode()
    (HERE / "seed-base64.eml").write_text(
        HEAD.format(mid="b64", subject=SUBJECT) + "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\n" + b64)
    qp = quopri.encodestring(body.encode()).decode()
    (HERE / "seed-qp.eml").write_text(
        HEAD.format(mid="qp", subject=SUBJECT) + "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + qp)
    html_body = ("<html><body><p>In prf_open() vzalloc() may sleep:</p><pre>"
                 + trace.replace("&", "&amp;").replace("<", "&lt;") + "</pre></body></html>\n")
    (HERE / "html-only.eml").write_text(
        HEAD.format(mid="html", subject=SUBJECT) + "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\n" + html_body)
    no_trace = body.replace(trace, "(trace omitted)")
    (HERE / "no-trace.eml").write_text(plain("notrace", no_trace))
    second = (HERE / "second-trace.txt").read_text()
    (HERE / "two-traces.eml").write_text(plain("two", body.replace(trace, trace + "\n\nand when "
                                                                   "resetting:\n\n" + second)))
    arm = (HERE / "arm64-trace.txt").read_text()
    (HERE / "arm64.eml").write_text(plain("arm", "Seen on arm64 too:\n\n" + arm))
    frag = ("On Thu, Jun 03, 2021, Jarmo Tiitto wrote:\n"
            ">  BUG: sleeping function called from invalid context at "
            "include/linux/sched/mm.h:201\n"
            ">  in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 337, name: cat\n"
            "\nDoes this still happen on -rc4?\n")
    (HERE / "quoted-fragment.eml").write_text(plain("frag", frag, "Re: " + SUBJECT))
    diff = (HERE / "own-fix.diff").read_text()
    own = body[: body.index("diff --git")] + diff + "\n-- \n2.39.5\n"
    (HERE / "own-fix.eml").write_text(plain("own", own, "[PATCH] pgo: retry the allocation "
                                            "outside pgo_lock in prf_open()"))


if __name__ == "__main__":
    main()
