"""``pgo-orch reproduce``: from a bug report mail to a scenario, runs, a fix check and proof.

1. Read the mail and extract facts (``extract.py``), then look the guilty function up in the
   tree (``lookup.py``) to find the file the report's command opened.
2. Write ``scenario.toml`` (``scenario_text.py``) and ``extracted.json``; ``write_only`` stops.
3. Run the scenario ``runs`` times through the run seam (``runs.py``), and with the mail's
   patch applied when asked (``apply.py``).
4. Read the counters of the kept profiles (``proof.py``) and write ``report.json`` and
   ``report.html`` (``report.py``).

Output directory layout: ``scenario.toml``, ``extracted.json``, ``report.json``,
``report.html``, ``runs/<job id>/`` (one run directory per job, written by the run seam).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.errors import ExitCode, InfraError, InvalidInput
from orchestrator.git import git_try, is_repository, resolve_commit
from orchestrator.mail.read import read_mail
from orchestrator.workflows.reproduce import report as rreport
from orchestrator.workflows.reproduce.apply import apply_patch
from orchestrator.workflows.reproduce.extract import Extracted, UnusableMail, extract
from orchestrator.workflows.reproduce.facts import TEXT, TREE, Fact
from orchestrator.workflows.reproduce.lookup import (
    WRITE_MEMBERS,
    Tree,
    file_of,
    find_file,
    instrumentation,
)
from orchestrator.workflows.reproduce.proof import run_proof
from orchestrator.workflows.reproduce.runs import (
    Runner,
    RunSummary,
    default_runner,
    run_many,
    summarize,
)
from orchestrator.workflows.reproduce.scenario_text import (
    READ_COMMANDS,
    Plan,
    default_fragment_options,
    scenario_toml,
)

MAX_VCPUS = 4  # TCG: every vCPU is a busy host thread


@dataclass
class ReproduceOptions:
    mail: str
    out: Path
    tree: Path | None = None
    rev: str | None = None
    runs: int = 3
    with_patch: bool = False
    write_only: bool = False
    duration: float = 10.0
    accel: str | None = None
    runner: Runner | None = None


@dataclass
class Outcome:
    exit_code: int
    headline: str
    report: dict[str, Any] = field(default_factory=dict)


def resolve_tree(tree: Path | None, rev: str | None) -> tuple[Path, str | None]:
    """The tree (default: the default tree) and the commit of ``rev`` (or HEAD) if git."""
    if tree is None:
        from orchestrator.kernel.defaults import default_tree

        root = default_tree()
    else:
        root = tree.expanduser().resolve()
        if not root.is_dir():
            raise InvalidInput(f"{tree} is not a directory", field="--tree")
    if is_repository(root):
        return root, resolve_commit(root, rev or "HEAD")
    if rev:
        raise InvalidInput(f"{root} is not a git repository, so --rev cannot be used",
                           field="--rev")
    return root, None


def plan_scenario(ex: Extracted, tree: Tree, duration: float) -> Plan:
    """Facts from the tree added to ``ex``'s reports; the plan of the scenario."""
    paths: list[tuple[str, str]] = []
    notes: list[str] = []
    quoted = [f for f in ex.facts if f.name == "quoted-path"]
    for rep in ex.reports:
        funcs = [f for f in [rep.guilty, *rep.callers] if f]
        found = find_file(tree, funcs)
        if found is not None:
            rep.facts.extend(found.facts)
            rel = file_of(found.facts)
            instr = instrumentation(tree, rel) if rel else None
            if instr is not None:
                rep.facts.append(instr)
            op = "write" if found.member in WRITE_MEMBERS else "read"
            if (found.path, op) not in paths:
                paths.append((found.path, op))
        elif quoted:
            q = quoted[0]
            rep.facts.append(Fact("file", q.value, TEXT, q.where, q.line,
                                  f"no file_operations with {', '.join(funcs)} in {tree.label};"
                                  " the path the mail quotes"))
            if (str(q.value), "read") not in paths:
                paths.append((str(q.value), "read"))
        else:
            notes.append(f"no file found for '{rep.title}': neither {tree.label} nor the mail "
                         "names one")
    if not paths:
        raise UnusableMail(f"{ex.mail}: found {len(ex.reports)} report(s) ("
                           + "; ".join(r.title for r in ex.reports) + "), but no file to "
                           f"open: no debugfs/proc file in {tree.label} uses "
                           + ", ".join(f for r in ex.reports for f in [r.guilty or ""] if f)
                           + " and the mail quotes no path", reason="no-file")
    base = next((f for f in ex.facts if f.name == "base-commit"), None)
    if base is not None and tree.commit:
        known = git_try(tree.root, "cat-file", "-e", f"{base.value}^{{commit}}").returncode == 0
        ex.facts.append(Fact("base-commit-in-tree", known, TREE, str(tree.root), base.line,
                             f"the mail's base commit {'is' if known else 'is not'} in "
                             f"{tree.root}" + ("" if known else ": its patch was written "
                                               "against other code")))
    first = ex.reports[0]
    comm = first.fact("comm")
    if comm is not None and str(comm.value) not in READ_COMMANDS:
        notes.append(f"Comm: {comm.value} is not a command pgo-orch runs; the readers use cat")
    vcpus = max([int(f.value) for r in ex.reports for f in r.facts if f.name == "vcpus"] or [2])
    if vcpus > MAX_VCPUS:
        notes.append(f"the report ran on CPU {vcpus - 1}; capped at {MAX_VCPUS} vCPUs (TCG)")
        vcpus = MAX_VCPUS
    machine = first.fact("machine")
    if machine is not None and machine.value != "q35":
        notes.append(f"the report's machine was {machine.value}; pgo-orch boots q35")
    options = [str(f.value) for f in ex.options]
    proof = "CONFIG_PGO_CLANG=y" in options or any("/pgo/" in p for p, _ in paths)
    name = "reproduce-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", first.guilty or "report")[:40]
    return Plan(name, [r.title for r in ex.reports], paths,
                str(comm.value) if comm else None, vcpus, options, duration, proof, notes)


def reproduce(opts: ReproduceOptions) -> Outcome:
    """Run the workflow (see the module docstring); exit code and headline in the outcome."""
    opts.out = opts.out.expanduser().resolve()
    mail = read_mail(opts.mail)
    ex = extract(mail)
    if opts.with_patch and ex.patch is None:
        raise InvalidInput(f"{opts.mail}: --with-patch, but the mail carries no patch "
                           "(no unified diff found in its text)", field="--with-patch",
                           reason="no-patch")
    root, commit = resolve_tree(opts.tree, opts.rev)
    tree = Tree(root, commit)
    plan = plan_scenario(ex, tree, opts.duration)
    ex.notes.extend(plan.notes)
    text = scenario_toml(plan, have=default_fragment_options() if opts.tree is None else set())
    opts.out.mkdir(parents=True, exist_ok=True)
    scenario_path = opts.out / "scenario.toml"
    scenario_path.write_text(text)
    _validate(text, str(scenario_path))
    extracted = ex.to_json() | {"tree": str(root), "commit": commit, "rev": opts.rev,
                                "plan": {"paths": plan.paths, "titles": plan.titles,
                                         "cpus": plan.cpus, "options": plan.options,
                                         "proof": plan.proof}}
    (opts.out / "extracted.json").write_text(json.dumps(extracted, indent=2) + "\n")
    ui.say("reproduce", f"{len(ex.reports)} report(s): " + "; ".join(plan.titles))
    ui.say("reproduce", f"scenario: {scenario_path}")
    data: dict[str, Any] = {"mail": opts.mail, "out": str(opts.out), "extracted": extracted,
                            "scenario": text, "scenario_file": str(scenario_path),
                            "runs": None, "patched": None, "patch": None}
    if opts.write_only:
        data["verdict"] = "written"
        out = Outcome(0, f"wrote {scenario_path} and {opts.out / 'extracted.json'}", data)
        rreport.write(opts.out, out.exit_code, out.headline, data)
        return out
    try:
        return _run(opts, ex, mail.subjects, root, commit, tree, plan, text, scenario_path, data)
    except KeyboardInterrupt:
        data["verdict"] = "interrupted"
        rreport.write(opts.out, int(ExitCode.INFRA), "INTERRUPTED: the runs did not finish",
                      data)
        raise


def _run(opts: ReproduceOptions, ex: Extracted, subjects: list[str], root: Path,
         commit: str | None, tree: Tree, plan: Plan, text: str, scenario_path: Path,
         data: dict[str, Any]) -> Outcome:
    runner = opts.runner or default_runner()
    funcs = _proof_functions(ex)
    rev_label = opts.rev or "HEAD"
    results = run_many(text, str(scenario_path), str(opts.out / "runs"), runs=opts.runs,
                       tree=str(root) if opts.tree else None, rev=opts.rev, tag="tree",
                       runner=runner, accel=opts.accel)
    base = summarize(f"{tree.label} ({rev_label})", plan.titles, results)
    data["runs"] = base.to_json() | {"proof": [run_proof(r, funcs) for r in results]}
    patched: RunSummary | None = None
    if opts.with_patch and ex.patch is not None:
        if commit is None:
            raise InvalidInput(f"{root} is not a git repository; --with-patch needs one",
                               field="--with-patch")
        subject = subjects[0] if subjects else ""
        applied = apply_patch(root, commit, ex.patch.text, subject)
        data["patch"] = ex.patch.to_json() | applied.to_json()
        if applied.ok and applied.commit:
            res2 = run_many(text, str(scenario_path), str(opts.out / "runs"), runs=opts.runs,
                            tree=str(root) if opts.tree else None, rev=applied.commit,
                            tag="patched", runner=runner, accel=opts.accel)
            patched = summarize(f"{tree.label} + mail patch ({applied.commit[:12]})",
                                plan.titles, res2)
            data["patched"] = patched.to_json() | {
                "proof": [run_proof(r, funcs) for r in res2],
                "fix_holds": patched.reproduced == 0 and patched.errors == 0}
    code, headline = _verdict(base, patched, data)
    data["verdict"] = {0: "not-reproduced", 1: "reproduced", 2: "error"}[code]
    rreport.write(opts.out, code, headline, data)
    return Outcome(code, headline, data)


def _validate(text: str, origin: str) -> None:
    """The scenario must load as a normal scenario (a bug here is ours: say so)."""
    from orchestrator.scenario import loader

    try:
        loader.loads(text, origin=origin)
    except InvalidInput as exc:
        raise InfraError(f"pgo-orch wrote a scenario it cannot load (a bug in pgo-orch): "
                         f"{exc.message}", reason="bad-generated-scenario") from exc


def _proof_functions(ex: Extracted) -> list[str]:
    funcs: list[str] = []
    for rep in ex.reports:
        for f in [rep.guilty, *rep.callers]:
            if f and f not in funcs:
                funcs.append(f)
    return funcs


def _verdict(base: RunSummary, patched: RunSummary | None, data: dict[str, Any]
             ) -> tuple[int, str]:
    titles = "; ".join(base.titles)
    if base.reproduced:
        code, head = int(ExitCode.KERNEL_PROBLEM), (
            f"REPRODUCED in {base.reproduced} of {base.runs} runs: {titles}")
    elif base.errors:
        code, head = int(ExitCode.INFRA), (
            f"ERROR: {base.errors} of {base.runs} runs did not complete; not reproduced in "
            f"the {base.clean} that did")
    else:
        code, head = int(ExitCode.OK), f"NOT REPRODUCED in {base.runs} runs: {titles}"
    if data.get("patch") and not data["patch"].get("applied"):
        head += "; the mail's patch does not apply to this tree"
    elif patched is not None:
        if patched.errors:
            head += f"; with the patch: {patched.errors} of {patched.runs} runs did not complete"
            code = int(ExitCode.INFRA)
        elif patched.reproduced:
            head += (f"; with the patch: still reproduced in {patched.reproduced} of "
                     f"{patched.runs} runs (the fix does not hold)")
        else:
            head += f"; with the patch: gone in all {patched.runs} runs (the fix holds)"
    return code, head
