"""The ``pool`` part of a run result, and the note on lockups of overcommitted or starved runs.

A soft lockup, RCU stall or hung task reported by a guest whose vCPUs did not get the host's
CPUs is as likely the host's doing as the kernel's. The verdict stays what the scenario
decided (a finding is never hidden), but each such finding gets ``host_note`` and the result
gets ``pool.suspect_findings`` so a reader, a series or a bisection can tell.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: finding classes a starved or overcommitted TCG guest produces on its own
STARVATION_CLASSES = frozenset({"soft-lockup", "hard-lockup", "rcu-stall", "hung-task",
                                "workqueue-lockup"})


def host_note(info: dict[str, Any]) -> str | None:
    """Why lockup findings of this run are suspect, or None when the host was fine."""
    why = []
    if info.get("overcommitted"):
        why.append(f"overcommitted host ({info.get('running_vcpus')} vCPUs on "
                   f"{info.get('host_cpus')} CPUs)")
    if info.get("starved"):
        psi = info.get("cpu_pressure_max")
        why.append("starved host" + (f" (CPU pressure up to {psi:.0f}%)"
                                     if isinstance(psi, (int, float)) else ""))
    if not why:
        return None
    return " and ".join(why) + ": may be the host's doing, not the kernel's"


def annotate(result: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Add ``pool`` to ``result`` and ``host_note`` to its starvation-class findings."""
    note = host_note(info)
    suspect = []
    for f in result.get("findings") or []:
        if isinstance(f, dict) and f.get("class") in STARVATION_CLASSES and note:
            f["host_note"] = note
            suspect.append(f.get("key") or f.get("title"))
    result["pool"] = {**info, "host_note": note, "suspect_findings": suspect}
    return result


def store(result: dict[str, Any]) -> None:
    """Write the annotation into the run's ``result.json`` and ``report.json`` (atomically)."""
    run_dir = result.get("run_dir")
    if not run_dir:
        return
    _write(Path(str(run_dir)) / "result.json", lambda _old: result)
    notes = {f.get("key"): f["host_note"] for f in result.get("findings") or []
             if isinstance(f, dict) and f.get("host_note")}

    def report(old: dict[str, Any]) -> dict[str, Any]:
        old["pool"] = result.get("pool")
        for f in old.get("findings") or []:
            if isinstance(f, dict) and f.get("key") in notes:
                f["host_note"] = notes[f["key"]]
        return old
    _write(Path(str(run_dir)) / "report.json", report)


def _write(path: Path, update: Any) -> None:
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(old, dict):
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(update(old), indent=2) + "\n")
    os.replace(tmp, path)
