"""Each mail variant gives the right facts, or a clear exit 3 saying what was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ExitCode
from orchestrator.mail.read import read_mail
from orchestrator.workflows.reproduce.extract import Extracted, UnusableMail, extract
from tests.reproduce.conftest import MAILS

TITLE = "BUG: sleeping function called from invalid context in prf_open"
OPTIONS = ["CONFIG_DEBUG_ATOMIC_SLEEP=y", "CONFIG_PGO_CLANG=y", "CONFIG_DEBUG_FS=y"]


def _facts(ex: Extracted) -> dict[str, object]:
    rep = ex.reports[0]
    return {f.name: f.value for f in rep.facts}


def _check_seed_facts(ex: Extracted) -> None:
    assert [r.title for r in ex.reports] == [TITLE]
    rep = ex.reports[0]
    assert rep.key == f"sleep-in-atomic|{TITLE}"
    assert rep.guilty == "prf_open"
    assert rep.callers == ["full_proxy_open"]
    facts = _facts(ex)
    assert facts["comm"] == "cat"
    assert facts["cpu"] == 1 and facts["vcpus"] == 2
    assert facts["machine"] == "q35"
    assert facts["release"] == "5.13.0-rc2-24-hack+"
    assert facts["taint"] == ""
    assert facts["in_atomic"] == 1 and facts["irqs_disabled"] == 1
    assert "irq-disabling lock" in str(facts["lock"])
    assert [o.value for o in ex.options] == OPTIONS
    assert ex.patch is not None and ex.patch.files == ["kernel/pgo/fs.c"]
    quoted = [f.value for f in ex.facts if f.name == "quoted-path"]
    assert quoted[:1] == ["/sys/kernel/debug/pgo/vmlinux.profraw"]


def test_seed_archive_page(seed: Path) -> None:
    ex = extract(read_mail(str(seed)))
    _check_seed_facts(ex)
    rep = ex.reports[0]
    assert not rep.quoted
    # every fact names the line it came from and how
    lines = seed.read_text().splitlines()
    for f in rep.facts:
        assert f.how in ("text", "rule", "tree")
        path, _, num = f.where.rpartition(":")
        assert path == str(seed)
        assert f.line in lines[int(num) - 1]
    base = next(f for f in ex.facts if f.name == "base-commit")
    assert base.value == "5d0cda65918279ada060417c5fecb7e86ccb3def"
    assert base.where == f"{seed}:172"
    # the patch is cut by its hunk counts: the signature and base-commit stay out
    assert ex.patch is not None
    assert "base-commit" not in ex.patch.text and "2.31.1" not in ex.patch.text
    assert ex.patch.text.count("\n@@ ") + ex.patch.text.startswith("@@") == 4


@pytest.mark.parametrize("name", ["seed-wrapped-72.eml", "seed-thread.mbox",
                                  "seed-base64.eml", "seed-qp.eml"])
def test_variants_give_the_seed_facts(name: str) -> None:
    ex = extract(read_mail(str(MAILS / name)))
    _check_seed_facts(ex)
    assert not ex.reports[0].quoted


def test_wrapped_lines_are_joined_back() -> None:
    raw = (MAILS / "seed-wrapped-72.eml").read_text()
    assert "\ninclude/linux/sched/mm.h:201\n" in raw  # the client did wrap it
    ex = extract(read_mail(str(MAILS / "seed-wrapped-72.eml")))
    hw = next(f for f in ex.reports[0].facts if f.name == "hardware")
    assert hw.value == "QEMU Standard PC (Q35 + ICH9, 2009), BIOS 0.0.0 02/06/2015"


def test_quoted_reply_reads_the_quoted_report() -> None:
    ex = extract(read_mail(str(MAILS / "seed-quoted-reply.eml")))
    _check_seed_facts(ex)
    assert ex.reports[0].quoted


def test_encoded_bodies_say_where_in_the_decoded_body() -> None:
    ex = extract(read_mail(str(MAILS / "seed-base64.eml")))
    assert ex.reports[0].where.endswith("message 1 body line 5 (base64)")
    ex = extract(read_mail(str(MAILS / "seed-qp.eml")))
    assert ex.reports[0].where.endswith("(quoted-printable)")


def test_thread_prefers_the_authors_report_over_the_quoted_copy() -> None:
    ex = extract(read_mail(str(MAILS / "seed-thread.mbox")))
    assert ex.kind == "mbox" and ex.messages == 2
    assert len(ex.reports) == 1 and "message 1" in ex.reports[0].where


def test_two_different_traces_give_two_reports() -> None:
    ex = extract(read_mail(str(MAILS / "two-traces.eml")))
    assert [r.title for r in ex.reports] == [
        TITLE, "BUG: sleeping function called from invalid context in reset_write"]
    second = ex.reports[1]
    assert second.callers[:1] == ["full_proxy_write"]
    assert {f.name: f.value for f in second.facts}["comm"] == "sh"


@pytest.mark.parametrize(("name", "reason", "words"), [
    ("html-only.eml", "html-only", ["only an HTML body"]),
    ("no-trace.eml", "no-report", ["no kernel report", "a patch touching kernel/pgo/fs.c",
                                   "/sys/kernel/debug/pgo/vmlinux.profraw"]),
    ("quoted-fragment.eml", "no-report", ["only a fragment of a report",
                                          "quoted-fragment.eml:10"]),
    ("arm64.eml", "foreign-arch", ["arm64 kernel", "linux,dummy-virt (DT)", "x86_64"]),
])
def test_unusable_mails_say_what_was_found(name: str, reason: str, words: list[str]) -> None:
    with pytest.raises(UnusableMail) as exc:
        extract(read_mail(str(MAILS / name)))
    assert exc.value.exit_code == ExitCode.INVALID_INPUT
    assert exc.value.reason == reason
    for w in words:
        assert w in exc.value.message


def test_taint_flags_and_release_from_a_tainted_line(tmp_path: Path) -> None:
    trace = (MAILS / "second-trace.txt").read_text().replace(
        "Not tainted 5.13.0-rc2-24-hack+ #154", "Tainted: G        W         6.1.0-rc4+ #7")
    mail = tmp_path / "t.txt"
    mail.write_text("Seen this:\n\n" + trace)
    ex = extract(read_mail(str(mail)))
    facts = _facts(ex)
    assert facts["taint"] == "G W" and facts["release"] == "6.1.0-rc4+"
    assert facts["comm"] == "sh" and facts["cpu"] == 0 and facts["vcpus"] == 2
