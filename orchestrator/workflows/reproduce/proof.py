"""Proof that a run reached the report's code: the kept profile's counters.

On a PGO kernel the scenario keeps one snapshot of the profile near the end of each run
(the ``profile-proof`` reader).  ``llvm-profdata show --function=F --counts`` of the kernel's
LLVM major (``profile.check.profdata_tool``) gives each function's counters.  IR-level
profiles count edges, not calls: a function ran iff one of its counters is non-zero; the sum
and the hottest counter are shown as they are, not dressed up as a call count.  A function
missing from the profile is not instrumented (its file is built with ``PGO_PROFILE := n``);
then the run's reads (each read opens the file) and the instrumented callers are the proof.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.profile.check import profdata_tool

_NAME = re.compile(r"^  (?P<name>\S.*):\s*$")
_BLOCKS = re.compile(r"^\s+Block counts: \[(?P<counts>[0-9, ]*)\]")
_FCOUNT = re.compile(r"^\s+Function count: (?P<n>\d+)")


@dataclass(frozen=True)
class Counters:
    function: str
    in_profile: bool
    counters: int = 0
    total: int = 0
    hottest: int = 0
    entry: int | None = None  # "Function count" when the tool prints one (front-end profiles)

    @property
    def ran(self) -> bool:
        return self.total > 0 or bool(self.entry)

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "in_profile": self.in_profile, "ran": self.ran,
                "counters": self.counters, "sum": self.total, "hottest": self.hottest,
                "entry_count": self.entry}


def parse_show(text: str, function: str) -> Counters:
    """Counters of exactly ``function`` (local symbols print as ``file:function``)."""
    cur: str | None = None
    counts: list[int] = []
    entry: int | None = None
    found = False
    for line in text.splitlines():
        m = _NAME.match(line)
        if m:
            name = m.group("name")
            cur = re.split(r"[:;]", name)[-1]
            continue
        if cur != function:
            continue
        bm = _BLOCKS.match(line)
        if bm:
            found = True
            counts += [int(x) for x in bm.group("counts").replace(" ", "").split(",") if x]
        fm = _FCOUNT.match(line)
        if fm:
            found = True
            entry = (entry or 0) + int(fm.group("n"))
    if not found:
        return Counters(function, False)
    return Counters(function, True, len(counts), sum(counts), max(counts, default=0), entry)


def counters(profile: Path, functions: list[str], toolchain: dict[str, str] | None
             ) -> tuple[list[Counters], str]:
    """Counters of ``functions`` in ``profile``; the second item is an error text or ""."""
    tool = profdata_tool(toolchain)
    if tool is None:
        return [], "llvm-profdata is not installed"
    out: list[Counters] = []
    for func in functions:
        proc = subprocess.run([tool, "show", "--counts", f"--function={func}", str(profile)],
                              capture_output=True, text=True, errors="replace", timeout=300,
                              check=False)
        if proc.returncode != 0:
            return out, f"{Path(tool).name} show failed: {proc.stderr.strip()[:300]}"
        out.append(parse_show(proc.stdout, func))
    return out, ""


def proof_profile(result: dict[str, Any]) -> Path | None:
    """The run's profile-proof snapshot (or its last kept profile)."""
    files = [Path(str(p.get("file"))) for p in result.get("profiles", []) if p.get("file")]
    run_dir = Path(str(result.get("run_dir", ".")))
    files = [f if f.is_absolute() else run_dir / f for f in files]
    files = [f for f in files if f.is_file()]
    proof = [f for f in files if f.name.startswith("profile-proof")]
    pick = proof or files
    return pick[-1] if pick else None


def toolchain_of(result: dict[str, Any]) -> dict[str, str] | None:
    kernel = result.get("kernel") or {}
    rd = kernel.get("result_dir")
    if not rd:
        return None
    meta = Path(str(rd)) / "metadata.json"
    try:
        tools = json.loads(meta.read_text()).get("toolchain")
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in tools.items()} if isinstance(tools, dict) else None


def run_proof(result: dict[str, Any], functions: list[str]) -> dict[str, Any]:
    """The proof for one run, as JSON: profile used, counters per function, reads."""
    reads = result.get("reads") or {}
    prof = proof_profile(result)
    if prof is None:
        return {"profile": None, "functions": [], "reads": reads,
                "message": "no profile was kept in this run"}
    got, err = counters(prof, functions, toolchain_of(result))
    return {"profile": str(prof), "functions": [c.to_json() for c in got], "reads": reads,
            "message": err}
