"""Mail text handling: quoting, unwrapping, flowed text, patches, the implied-options table."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.mail.patch import find_patch
from orchestrator.mail.read import SrcLine, parse_mail
from orchestrator.mail.text import own_view, quote_depth, quoted_view, strip_quote, unwrap
from orchestrator.workflows.reproduce.implied import implied, load_rules


def _lines(text: str) -> list[SrcLine]:
    return [SrcLine(t, f"m:{n}") for n, t in enumerate(text.splitlines(), start=1)]


def test_quote_depth_and_views() -> None:
    assert quote_depth("> > x") == 2 and quote_depth(">> x") == 2 and quote_depth(" x") == 0
    assert strip_quote("> >  BUG: x") == " BUG: x"
    lines = _lines("mine\n> theirs\n>> older\n")
    assert [ln.text for ln in own_view(lines)] == ["mine", "", ""]
    assert [ln.text for ln in quoted_view(lines)] == ["", "theirs", "older"]


def test_unwrap_joins_wrapped_report_lines_only() -> None:
    text = (" BUG: sleeping function called from invalid context at\n"
            "include/linux/sched/mm.h:201\n"
            " in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 337, name: cat\n"
            "  prf_open+0x1da/0x580\n"
            "This is ordinary prose that happens to be long enough to be wrapped by\n"
            "a client, and is left alone.\n")
    out = unwrap(_lines(text))
    assert out[0].text == (" BUG: sleeping function called from invalid context at "
                           "include/linux/sched/mm.h:201")
    assert out[0].where == "m:1"
    assert out[1].text.startswith(" in_atomic()")
    assert out[-2].text.startswith("This is") and out[-1].text.startswith("a client")


def test_unwrap_leaves_short_lines_and_diffs_alone() -> None:
    text = ("  dump_stack+0xc7/0x134\nfoo\n"
            "@@ -1,2 +1,2 @@\n"
            " * Serialize the profiling data into a format LLVM's tools can understand.\n"
            "+ * Note: p->buffer must point into vzalloc()'d\n")
    out = unwrap(_lines(text))
    assert [ln.text for ln in out] == text.splitlines()


def test_flowed_text_is_joined() -> None:
    data = (b"From: a@b\nSubject: s\nContent-Type: text/plain; format=flowed\n\n"
            b"  BUG: sleeping function called from invalid context \nat kernel/x.c:1\n")
    mail = parse_mail(data, "f.eml")
    assert mail.bodies[0].lines[0].text == (" BUG: sleeping function called from invalid "
                                            "context at kernel/x.c:1")


def test_patch_is_cut_by_hunk_counts() -> None:
    text = ("Some text\n\ndiff --git a/f.c b/f.c\nindex 1..2 100644\n--- a/f.c\n+++ b/f.c\n"
            "@@ -1,3 +1,3 @@\n a\n-b\n+B\n\nbase-commit: abc\n-- \n2.31\n")
    patch = find_patch(_lines(text))
    assert patch is not None
    assert patch.files == ["f.c"] and patch.where == "m:3"
    assert patch.text.endswith("+B\n \n")  # the blank context line got its space back
    assert "base-commit" not in patch.text


def test_truncated_hunk_is_not_a_patch() -> None:
    text = "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,5 +1,5 @@\n a\n-b\nprose\n"
    assert find_patch(_lines(text)) is None


def test_implied_table_loads_and_matches() -> None:
    rules = load_rules()
    got = implied("lockdep-circular", ["__llvm_profile_instrument_target", "full_proxy_read"],
                  rules)
    assert [o for o, _, _ in got] == ["CONFIG_PROVE_LOCKING=y", "CONFIG_PGO_CLANG=y",
                                      "CONFIG_DEBUG_FS=y"]
    assert [o for o, _, _ in implied("kasan", [], rules)] == ["CONFIG_KASAN=y"]
    assert [o for o, _, _ in implied("kfence", [], rules)] == ["CONFIG_KFENCE=y"]
    assert [o for o, _, _ in implied("ubsan", [], rules)] == ["CONFIG_UBSAN=y"]


def test_bad_implied_table_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('version = 1\n[[frame]]\nmatch = "x"\noptions = ["DEBUG_FS"]\n')
    with pytest.raises(InvalidInput, match=r"frame\[0\]\.options"):
        load_rules(bad)
