"""Reading series: b4 for threads (order, replies, revisions), directories, ranges."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.workflows.series.inputs import read_series
from tests.series.conftest import ENV, git, make_series

CLEAN = "int driver(void) { return 1; }\n"
SERIES = [(f"drivers: step {i}", CLEAN + "".join(f"/* {j} */\n" for j in range(1, i + 1)))
          for i in range(1, 4)]


def _patch_files(tree: Path, dest: Path, *extra: str) -> list[Path]:
    dest.mkdir()
    subprocess.run(["git", "-C", str(tree), "format-patch", "-q", "-o", str(dest), *extra,
                    "HEAD..topic"], env=ENV, check=True)
    return sorted(dest.glob("*.patch"))


def test_thread_out_of_order_with_reply_and_trailer(tmp_path: Path, fake_tree: Path) -> None:
    base = make_series(fake_tree, SERIES)
    files = _patch_files(fake_tree, tmp_path / "p", "--thread", "--cover-letter",
                         f"--base={base}")
    cover, p1, p2, p3 = files
    msgid = next(ln.split(":", 1)[1].strip() for ln in p2.read_text().splitlines()
                 if ln.lower().startswith("message-id:"))
    reply = (f"From reviewer Mon Sep 17 00:00:00 2001\nFrom: Rev Iewer <rev@example.org>\n"
             f"Subject: Re: [PATCH 2/3] drivers: step 2\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
             f"Message-Id: <reply-1@example.org>\nIn-Reply-To: {msgid}\nReferences: {msgid}\n"
             f"\nLooks right.\n\nReviewed-by: Rev Iewer <rev@example.org>\n")
    mbox = tmp_path / "thread.mbox"
    mbox.write_text("\n".join(f.read_text() for f in (p3, cover, p1)) + "\n" + reply + "\n"
                    + p2.read_text())
    inp = read_series(str(mbox), fake_tree, tmp_path / "w")
    assert inp.kind == "thread" and inp.base_hint == base
    assert [p.subject for p in inp.patches] == [s for s, _ in SERIES]
    assert "Reviewed-by: Rev Iewer <rev@example.org>" in inp.patches[1].file.read_text()
    assert all(p.message_id and p.message_id.startswith("<") for p in inp.patches)
    assert inp.patches[0].author == "Dev <dev@example.org>"


def test_directory_of_patches_in_name_order(tmp_path: Path, fake_tree: Path) -> None:
    base = make_series(fake_tree, SERIES)
    files = _patch_files(fake_tree, tmp_path / "p", f"--base={base}")
    (tmp_path / "p" / "notes.txt").write_text("not a patch\n")
    inp = read_series(str(tmp_path / "p"), fake_tree, tmp_path / "w")
    assert inp.kind == "directory" and inp.base_hint == base
    assert [p.subject for p in inp.patches] == [s for s, _ in SERIES]
    assert len({p.sha256 for p in inp.patches}) == 3
    assert len(files) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no .patch files"):
        read_series(str(tmp_path / "empty"), fake_tree, tmp_path / "w2")


def test_plain_format_patch_mbox_falls_back_to_mailsplit(tmp_path: Path,
                                                         fake_tree: Path) -> None:
    make_series(fake_tree, SERIES)
    mbox = tmp_path / "s.mbox"
    mbox.write_text(git(fake_tree, "format-patch", "--stdout", "HEAD..topic"))
    inp = read_series(str(mbox), fake_tree, tmp_path / "w")
    assert inp.kind == "mbox" and inp.base_hint is None
    assert any("git mailsplit" in n for n in inp.notes)
    assert [p.number for p in inp.patches] == [1, 2, 3]


def test_range_is_linear_and_ordered(tmp_path: Path, fake_tree: Path) -> None:
    base = make_series(fake_tree, SERIES)
    inp = read_series(f"{base}..topic", fake_tree, tmp_path / "w")
    assert inp.kind == "range" and inp.base_hint == base
    assert [p.subject for p in inp.patches] == [s for s, _ in SERIES]
    assert inp.patches[-1].commit == git(fake_tree, "rev-parse", "topic").strip()
    with pytest.raises(InvalidInput, match="no commits"):
        read_series("topic..topic", fake_tree, tmp_path / "w")
    with pytest.raises(InvalidInput, match="not a commit"):
        read_series("nosuch..topic", fake_tree, tmp_path / "w")


def test_two_bases_are_ambiguous(tmp_path: Path, fake_tree: Path) -> None:
    base = make_series(fake_tree, SERIES)
    mbox = tmp_path / "s.mbox"
    text = git(fake_tree, "format-patch", "--stdout", f"--base={base}", "HEAD..topic~1")
    text += git(fake_tree, "format-patch", "--stdout", "--base=topic~1", "topic~1..topic")
    mbox.write_text(text)
    with pytest.raises(InvalidInput, match="several bases"):
        read_series(str(mbox), fake_tree, tmp_path / "w")


def test_thread_with_two_revisions_takes_the_newest(tmp_path: Path, fake_tree: Path) -> None:
    base = make_series(fake_tree, SERIES[:2], branch="v1")
    make_series(fake_tree, [("drivers: step 1 (v2)", CLEAN + "/* one */\n"),
                            ("drivers: step 2 (v2)", CLEAN + "/* one */\n/* two */\n")],
                branch="v2")
    v1 = git(fake_tree, "format-patch", "--stdout", "--thread", "--cover-letter",
             f"--base={base}", "HEAD..v1")
    cover_id = next(ln.split(":", 1)[1].strip() for ln in v1.splitlines()
                    if ln.lower().startswith("message-id:"))
    v2 = git(fake_tree, "format-patch", "--stdout", "--thread", "--cover-letter",
             "--subject-prefix=PATCH v2", f"--in-reply-to={cover_id}", f"--base={base}",
             "HEAD..v2")
    mbox = tmp_path / "thread.mbox"
    mbox.write_text(v1 + v2)
    inp = read_series(str(mbox), fake_tree, tmp_path / "w")
    assert [p.subject for p in inp.patches] == ["drivers: step 1 (v2)", "drivers: step 2 (v2)"]
    assert inp.base_hint == base


@pytest.mark.parametrize("exc,code,reason", [
    (subprocess.TimeoutExpired(["b4"], 300), 2, "b4-timeout"),
    (FileNotFoundError("b4"), 2, "tool-missing"),
])
def test_b4_hanging_or_vanished_is_an_infra_error(tmp_path: Path, fake_tree: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  exc: Exception, code: int,
                                                  reason: str) -> None:
    from orchestrator.errors import InfraError
    from orchestrator.workflows.series import inputs
    make_series(fake_tree, SERIES)
    mbox = tmp_path / "s.mbox"
    mbox.write_text(git(fake_tree, "format-patch", "--stdout", "--thread", "HEAD..topic"))

    def run(argv: list[str], **kw: object) -> object:
        raise exc

    monkeypatch.setattr(inputs, "_b4", lambda: "b4")
    monkeypatch.setattr(inputs.subprocess, "run", run)
    with pytest.raises(InfraError) as info:
        read_series(str(mbox), fake_tree, tmp_path / "work")
    assert (int(info.value.exit_code), info.value.reason) == (code, reason)
