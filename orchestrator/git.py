"""The one place pgo-orch runs git: argv lists, deadlines, and errors that carry git's words.

Every caller (default tree, scratch worktrees, series, bisect, reproduce) goes through
:func:`git` or :func:`git_try`; revisions given by users are checked by :func:`resolve_commit`
before they reach a command line, so a revision can never be read as an option.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from orchestrator.errors import InfraError, InvalidInput, ToolMissing
from orchestrator.tools import install_hint

#: A fixed identity and date: commits pgo-orch makes (the default tree, applied series) get
#: the same hashes on every machine.
FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "pgo-orch",
    "GIT_AUTHOR_EMAIL": "pgo-orch@localhost",
    "GIT_COMMITTER_NAME": "pgo-orch",
    "GIT_COMMITTER_EMAIL": "pgo-orch@localhost",
    "GIT_AUTHOR_DATE": "2023-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2023-01-01T00:00:00+0000",
}


class GitError(InfraError):
    """A git command failed; ``stderr`` holds git's own message."""

    def __init__(self, message: str, *, stderr: str = "", returncode: int | None = None,
                 reason: str = "git-failed") -> None:
        super().__init__(message, reason=reason)
        self.stderr = stderr
        self.returncode = returncode


def git_try(repo: Path, *args: str, env: Mapping[str, str] | None = None,
            timeout: float = 600.0, input_text: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """Run ``git -C repo ARGS``; returns the completed process whatever its exit status."""
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              errors="replace", env=full_env, timeout=timeout,
                              input=input_text, check=False)
    except FileNotFoundError as exc:
        raise ToolMissing("git", install_hint("git")) from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args[:2])} did not finish within {timeout:.0f}s in "
                       f"{repo}", reason="git-timeout") from exc


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600.0,
        input_text: str | None = None) -> str:
    """Run ``git -C repo ARGS`` and return its stdout; GitError (exit 2) when it fails."""
    proc = git_try(repo, *args, env=env, timeout=timeout, input_text=input_text)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip()
        raise GitError(f"git {' '.join(args)} failed in {repo} (exit {proc.returncode}): "
                       f"{msg}", stderr=msg, returncode=proc.returncode)
    return proc.stdout


def git_bytes(repo: Path, *args: str, timeout: float = 600.0) -> bytes | None:
    """``git -C repo ARGS``'s stdout as bytes (diffs, ``-z`` listings); None when git fails."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ToolMissing("git", install_hint("git")) from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args[:2])} did not finish within {timeout:.0f}s in "
                       f"{repo}", reason="git-timeout") from exc
    return proc.stdout if proc.returncode == 0 else None


def resolve_commit(repo: Path, rev: str, *, field: str = "--rev") -> str:
    """The full commit id of ``rev`` in ``repo``; InvalidInput (exit 3) if it is not one."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n "):
        raise InvalidInput(f"bad revision {rev!r}", field=field)
    proc = git_try(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise InvalidInput(f"{rev!r} is not a commit in {repo} (is it a git repository?)",
                           field=field, reason="unknown-rev")
    return proc.stdout.strip()


def is_repository(path: Path) -> bool:
    """True when ``path`` is inside a git work tree."""
    proc = git_try(path, "rev-parse", "--is-inside-work-tree")
    return proc.returncode == 0 and proc.stdout.strip() == "true"
