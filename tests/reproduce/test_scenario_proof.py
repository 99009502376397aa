"""The generated scenario quotes what came from a mail or tree; proof counters parse exactly."""

from __future__ import annotations

import shlex
import tomllib

from orchestrator.scenario.loader import loads
from orchestrator.workflows.reproduce.proof import parse_show
from orchestrator.workflows.reproduce.scenario_text import Plan, scenario_toml


def _plan(path: str, title: str) -> Plan:
    return Plan(name="reproduce-x", titles=[title], paths=[(path, "read"), (path, "write")],
                comm="dd", cpus=3, options=["CONFIG_DEBUG_FS=y", "CONFIG_KASAN=y"],
                duration=4, proof=False, notes=["a note\nwith a newline"])


def test_untrusted_text_is_quoted() -> None:
    path = "/sys/kernel/debug/we ird/$(reboot);`x`\"'"
    title = 'BUG: KASAN: use-after-free in f"]\n[kernel]'
    text = scenario_toml(_plan(path, title), have={"CONFIG_DEBUG_FS=y"})
    data = tomllib.loads(text)
    assert data["expect"]["titles"] == [title]
    read, write = data["readers"]
    assert shlex.split(read["command"]) == ["dd", "bs=64k", "status=none", path]
    assert write["command"] == f"echo 1 > {shlex.quote(path)}"
    assert write["min_bytes"] == 0 and read["parallel"] == 4
    assert data["kernel"]["options"] == ["CONFIG_KASAN=y"]  # DEBUG_FS is already set
    assert data["kernel"]["require"] == ["CONFIG_DEBUG_FS=y", "CONFIG_KASAN=y"]
    assert f"test -e {shlex.quote(path)}" in data["setup"]
    sc = loads(text, origin="generated")
    assert sc.machine.cpus == 3 and sc.profile.required is False


SHOW = """Counters:
  /work/linux/fs/debugfs/file.c:full_proxy_open:
    Hash: 0x07033b3a8c17eb7e
    Counters: 4
    Block counts: [0, 2, 5, 1]
  /work/linux/fs/debugfs/file.c:full_proxy_open_extra:
    Hash: 0x1
    Counters: 1
    Block counts: [100]
  vfs_open:
    Hash: 0x2
    Counters: 1
    Function count: 7
    Block counts: []
Instrumentation level: IR  entry_first = 0
Functions shown: 3
"""


def test_parse_show_matches_exact_names() -> None:
    c = parse_show(SHOW, "full_proxy_open")
    assert (c.in_profile, c.counters, c.total, c.hottest, c.ran) == (True, 4, 8, 5, True)
    v = parse_show(SHOW, "vfs_open")
    assert v.entry == 7 and v.ran
    missing = parse_show(SHOW, "prf_open")
    assert not missing.in_profile and not missing.ran
