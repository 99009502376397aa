"""``pgo-orch reproduce`` on real kernels (vm): the seed mail on the fixture and at the tip,
and our own fix through --with-patch.  Run under the heavy lock; kernels come from the cache
(the fixture builds in the shared scratch worktree, incrementally).  Readers run 3 s (the
prf_open bug fires on the first open).  Cost on a warm cache (TCG, 2 cores): see README."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.workflows.reproduce.workflow import ReproduceOptions, reproduce
from tests.reproduce.conftest import MAILS

pytestmark = pytest.mark.vm

TITLE = "BUG: sleeping function called from invalid context in prf_open"
KEY = f"sleep-in-atomic|{TITLE}"


def _functions(proof: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(c["function"]): c for c in proof["functions"]}  # type: ignore[attr-defined,index]


def test_seed_reproduces_at_fixture_0001_and_its_patch_does_not_apply(
        seed: Path, tmp_path: Path) -> None:
    out = reproduce(ReproduceOptions(mail=str(seed), out=tmp_path / "o",
                                     rev="pgo-fixtures/0001", runs=2, duration=3,
                                     with_patch=True))
    runs = out.report["runs"]
    assert out.exit_code == 1, out.headline
    assert runs["reproduced"] == 2 and runs["errors"] == 0
    for res in runs["results"]:
        assert KEY in [f["key"] for f in res["findings"]]
        assert res["reproduced"] is True
    # the 2021 patch is against other code: said plainly, with git's words
    assert out.report["patch"]["applied"] is False
    assert "kernel/pgo/fs.c" in out.report["patch"]["message"]
    assert "does not apply" in out.headline
    assert (tmp_path / "o" / "report.html").is_file()


def test_seed_not_reproduced_at_the_tip_with_proof(seed: Path, tmp_path: Path) -> None:
    out = reproduce(ReproduceOptions(mail=str(seed), out=tmp_path / "o", runs=1, duration=3))
    assert out.exit_code == 0, out.headline
    assert out.report["runs"]["reproduced"] == 0
    proof = out.report["runs"]["proof"][0]
    assert proof["reads"]["total"] > 0  # every read opened the file, i.e. ran prf_open
    funcs = _functions(proof)
    # kernel/pgo is built without counters: prf_open is not in the profile ...
    assert funcs["prf_open"]["in_profile"] is False
    facts = {f["name"] for f in out.report["extracted"]["reports"][0]["facts"]}
    assert "not-instrumented" in facts
    # ... and its instrumented caller shows the opens
    assert funcs["full_proxy_open"]["ran"] is True
    assert int(funcs["full_proxy_open"]["sum"]) > 0


def test_our_own_fix_holds(tmp_path: Path) -> None:
    out = reproduce(ReproduceOptions(mail=str(MAILS / "own-fix.eml"), out=tmp_path / "o",
                                     rev="pgo-fixtures/0001", runs=1, duration=3,
                                     with_patch=True))
    assert out.exit_code == 1, out.headline
    assert out.report["runs"]["reproduced"] == 1
    assert out.report["patch"]["applied"] is True
    patched = out.report["patched"]
    assert patched["fix_holds"] is True and patched["errors"] == 0
    assert "the fix holds" in out.headline
