"""The build cache under faults and load (issue 9 items 7 and 10): proven configs that were
cut short, LRU pruning, leases, and processes building and booting from one slot at once."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from orchestrator.errors import InfraError, InvalidInput
from orchestrator.kernel import build as kbuild
from orchestrator.kernel import cache as kcache


def _req(tree: Path, *frags: str, options: list[str] | None = None) -> kbuild.BuildRequest:
    return kbuild.BuildRequest(tree=tree, fragments=list(frags), options=options or [], jobs=1)


def _frag(tmp_path: Path) -> str:
    frag = tmp_path / "dbg.config"
    frag.write_text("CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_ATOMIC_SLEEP=y\n")
    return str(frag)


def _edit(tree: Path, value: int) -> None:
    (tree / "drivers" / "fake.c").write_text(f"int driver(void) {{ return {value}; }}\n")


@pytest.mark.parametrize("damage", ["truncated", "no-checksum"])
def test_cut_short_proven_config_is_not_reused(
    cache: Path, fake_tree: Path, tmp_path: Path, damage: str
) -> None:
    frag = _frag(tmp_path)
    kbuild.build(_req(fake_tree, frag))
    (cfg,) = cache.glob("builds/*/configs/*.config")
    if damage == "truncated":  # a copy cut short by a kill or a full disk
        text = cfg.read_text()
        cfg.write_text(text[: text.index("CONFIG_DEBUG_KERNEL")])
    else:  # killed between the config and its checksum
        cfg.with_suffix(".sha256").unlink()
    _edit(fake_tree, 2)  # no Kconfig input changed: same config key
    second = kbuild.build(_req(fake_tree, frag))
    log = second.log.read_text()
    assert "config: reusing" not in log and "incomplete or unproven" in log
    assert "CONFIG_DEBUG_ATOMIC_SLEEP=y" in second.config.read_text()
    _edit(fake_tree, 3)
    third = kbuild.build(_req(fake_tree, frag))
    assert "config: reusing" in third.log.read_text(), "the regenerated copy is reused"


def test_prune_keeps_least_recently_used_out(
    cache: Path, fake_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGO_ORCH_CACHE_KEEP", "2")
    monkeypatch.setenv("PGO_ORCH_CACHE_GRACE_S", "0")
    _edit(fake_tree, 1)
    r1 = kbuild.build(_req(fake_tree))
    time.sleep(0.02)
    _edit(fake_tree, 2)
    r2 = kbuild.build(_req(fake_tree))
    time.sleep(0.02)
    _edit(fake_tree, 1)
    assert kbuild.build(_req(fake_tree)).cached, "hit on the older result: now the newest use"
    time.sleep(0.02)
    _edit(fake_tree, 3)
    r3 = kbuild.build(_req(fake_tree))
    assert r1.result_dir.is_dir() and r3.result_dir.is_dir()
    assert not r2.result_dir.exists(), "the least recently used result is pruned"
    _edit(fake_tree, 2)
    assert not kbuild.build(_req(fake_tree)).cached


def test_leased_and_recent_results_are_never_pruned(
    cache: Path, fake_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGO_ORCH_CACHE_KEEP", "1")
    monkeypatch.setenv("PGO_ORCH_CACHE_GRACE_S", "0")
    _edit(fake_tree, 1)
    r1 = kbuild.build(_req(fake_tree))
    with r1.lease():
        for v in (2, 3):
            _edit(fake_tree, v)
            kbuild.build(_req(fake_tree))
        assert r1.vmlinux.is_file(), "a result a run is booting stays"
    _edit(fake_tree, 4)
    kbuild.build(_req(fake_tree))
    assert not r1.result_dir.exists(), "released: pruned like any other"
    with pytest.raises(InfraError) as exc, r1.lease():
        pass
    assert exc.value.reason == "build-pruned"
    monkeypatch.setenv("PGO_ORCH_CACHE_GRACE_S", "600")
    before = {d.name for d in cache.glob("builds/*/results/*")}
    _edit(fake_tree, 5)
    kbuild.build(_req(fake_tree))
    after = {d.name for d in cache.glob("builds/*/results/*")}
    assert before < after, "results used within the grace period are kept"


def test_lookup_checks_artifacts(cache: Path, fake_tree: Path) -> None:
    res = kbuild.build(_req(fake_tree))
    p = kbuild.prepare(_req(fake_tree))
    assert kbuild.lookup(p) is not None
    res.system_map.unlink()
    assert kbuild.lookup(p) is None
    assert not kcache.index_entry(p.key).exists(), "a broken entry is dropped"
    again = kbuild.build(_req(fake_tree))
    assert not again.cached and again.system_map.is_file()


@pytest.mark.parametrize("name,value", [("PGO_ORCH_CACHE_KEEP", "0"),
                                        ("PGO_ORCH_CACHE_GRACE_S", "nan"),
                                        ("PGO_ORCH_CACHE_KEEP", "many")])
def test_bad_cache_settings_are_invalid_input(
    cache: Path, fake_tree: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=name):
        kbuild.build(_req(fake_tree))
    assert not list(cache.glob("builds/*/out")), "checked before anything is built"


def _others_built(index: Path, before: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and set(os.listdir(index)) <= before:
        time.sleep(0.02)


def _worker(tree: str, cache_dir: str, seed: int, rounds: int, errors: multiprocessing.Queue
            ) -> None:  # type: ignore[type-arg]
    os.environ.update(PGO_ORCH_CACHE=cache_dir, PGO_ORCH_CACHE_KEEP="1",
                      PGO_ORCH_CACHE_GRACE_S="0")
    index = Path(cache_dir) / "index"
    for i in range(rounds):
        shift = 12 + seed * rounds + i  # every build a new result: each one prunes
        try:
            res = kbuild.build(_req(Path(tree), options=[f"LOG_BUF_SHIFT={shift}"]))
            try:
                with res.lease():
                    # "booting" until another process has built (and pruned) meanwhile
                    _others_built(index, set(os.listdir(index)), 2.0)
                    data = b"".join((res.vmlinux.read_bytes(), res.bzimage.read_bytes(),
                                     res.config.read_bytes(), res.system_map.read_bytes()))
                    meta = res.metadata_json()
            except InfraError as exc:
                if exc.reason != "build-pruned":
                    raise
                continue  # pruned between build() and lease(): the caller builds again
            if f"CONFIG_LOG_BUF_SHIFT={shift}\n".encode() not in data:
                errors.put(f"round {i}: result {res.key} is not the kernel asked for")
            if meta["key"] != res.key:
                errors.put(f"round {i}: metadata of another result")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            errors.put(f"round {i}: {type(exc).__name__}: {exc}")


def test_processes_building_and_using_one_slot(cache: Path, fake_tree: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(fake_tree), str(cache), s, 2, errors))
             for s in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, found
    assert len(list(cache.glob("builds/*/results/*"))) <= 3, "pruned down to what is in use"
