"""Validate a raw profile: our header checks, then llvm-profdata merge and show."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.profile.rawprof import ProfileFormatError, read_header


@dataclass
class ProfileVerdict:
    file: Path
    valid: bool
    message: str
    detail: str = ""
    version: int | None = None
    functions: int | None = None
    nonzero_functions: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"file": str(self.file), "valid": self.valid, "message": self.message,
                "detail": self.detail, "version": self.version, "functions": self.functions,
                "nonzero_functions": self.nonzero_functions}


def profdata_tool(toolchain: dict[str, str] | None = None) -> str | None:
    """llvm-profdata of the build's LLVM major version when known, else the default one."""
    major = ""
    if toolchain:
        m = re.search(r"version (\d+)", toolchain.get("clang", ""))
        major = m.group(1) if m else ""
    for cand in ([f"llvm-profdata-{major}"] if major else []) + ["llvm-profdata"]:
        path = shutil.which(cand)
        if path:
            return path
    return None


def check_file(path: Path, toolchain: dict[str, str] | None = None) -> ProfileVerdict:
    try:
        hdr = read_header(path)
    except ProfileFormatError as exc:
        return ProfileVerdict(path, False, str(exc))
    tool = profdata_tool(toolchain)
    if tool is None:
        return ProfileVerdict(path, True, "header valid (llvm-profdata not installed)",
                              version=hdr.version)
    with tempfile.TemporaryDirectory(prefix="pgo-prof-") as tmp:
        out = Path(tmp) / "merged.profdata"
        merge = subprocess.run([tool, "merge", "-o", str(out), str(path)], capture_output=True,
                               text=True, timeout=300, check=False)
        if merge.returncode != 0:
            msg = (merge.stderr or merge.stdout).strip().splitlines()
            return ProfileVerdict(path, False, "llvm-profdata merge failed: "
                                  + ("; ".join(m.strip() for m in msg[:3]) if msg
                                     else f"exit {merge.returncode}"),
                                  "\n".join(msg[-20:]), hdr.version)
        show = subprocess.run([tool, "show", str(out)], capture_output=True, text=True,
                              timeout=300, check=False)
    funcs = re.search(r"Total functions:\s*(\d+)", show.stdout)
    nonzero = re.search(r"Functions shown:\s*(\d+)", show.stdout)
    return ProfileVerdict(path, show.returncode == 0,
                          "valid" if show.returncode == 0 else "llvm-profdata show failed",
                          show.stdout[-2000:], hdr.version,
                          int(funcs.group(1)) if funcs else None,
                          int(nonzero.group(1)) if nonzero else None)
