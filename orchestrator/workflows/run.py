"""One scenario run: build (cached), boot, setup, readers under load, watch, decide, report.

``run_scenario`` is the one programmatic entry point (scenario + kernel in, result out);
``pgo-orch run``, and later series, bisect and reproduce, call it.
"""

from __future__ import annotations

import json
import shlex
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import ui
from orchestrator.detect.allowlist import Allowlist, classify
from orchestrator.detect.detector import Finding
from orchestrator.errors import ExitCode, InvalidInput, PgoOrchError
from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults
from orchestrator.kernel.kconfig import read_config
from orchestrator.scenario import driver
from orchestrator.scenario.model import Scenario
from orchestrator.vm import guest as vmguest
from orchestrator.vm.machine import BootFailure
from orchestrator.vm.ssh import SshError
from orchestrator.workflows import hang_title
from orchestrator.workflows.live_detect import LiveDetector

GRACE = 60.0  # seconds beyond the readers' duration before the guest counts as hung
#: after a hang, keep watching at least this long: the soft lockup detector reports after
#: 2 x watchdog_thresh (20 s), RCU stalls after 21 s
HANG_SETTLE = 30.0


@dataclass
class RunOptions:
    tree: Path | None = None
    jobs: int | None = None
    accel: str | None = None  # overrides the scenario's
    extra_options: list[str] = field(default_factory=list)
    rev: str | None = None  # build this revision of the tree


@dataclass
class Check:
    """One scenario check (a JUnit test case)."""

    name: str
    ok: bool
    message: str = ""
    detail: str = ""
    skipped: bool = False


@dataclass
class RunResult:
    scenario: Scenario
    run_dir: Path
    verdict: str = "error"  # pass, fail, error
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    expected: list[tuple[Finding, str]] = field(default_factory=list)
    readers: list[driver.ReaderStats] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    boot: dict[str, object] = field(default_factory=dict)
    kernel: dict[str, object] = field(default_factory=dict)
    profile_path: str | None = None
    profiles: list[dict[str, object]] = field(default_factory=list)
    hang: str | None = None
    options: RunOptions = field(default_factory=RunOptions)

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1}.get(self.verdict, int(ExitCode.INFRA))


def _phase(result: RunResult, name: str, t0: float) -> None:
    result.timings[name] = round(time.monotonic() - t0, 3)


def build_request(sc: Scenario, opts: RunOptions) -> kbuild.BuildRequest:
    tree = opts.tree if opts.tree is not None else defaults.default_tree()
    frags = sc.kernel.fragments if sc.kernel.fragments is not None else \
        defaults.default_fragments()
    req = kbuild.BuildRequest(tree=tree, base_config=sc.kernel.base_config,
                              fragments=list(frags),
                              options=[*sc.kernel.options, *opts.extra_options],
                              rev=opts.rev)
    if opts.jobs:
        req.jobs = opts.jobs
    return req


def _check_required(sc: Scenario, config: Path) -> None:
    final = read_config(config)
    missing = []
    for opt in sc.kernel.require:
        if opt.startswith("#"):
            sym = opt.split()[1]
            if final.get(sym, "n") != "n":
                missing.append(f"{opt} (got {sym}={final[sym]})")
        else:
            sym, _, val = opt.partition("=")
            if final.get(sym) != val:
                missing.append(f"{opt} (got {final.get(sym, 'not set')})")
    if missing:
        raise InvalidInput("the kernel lacks options the scenario requires: "
                           + "; ".join(missing), path=str(sc.path), field="kernel.require",
                           reason="requirement-missing")


def run_scenario(sc: Scenario, run_dir: Path, opts: RunOptions | None = None,
                 build: kbuild.BuildResult | None = None) -> RunResult:
    """Run ``sc`` into ``run_dir``; returns the result (reports written). Raises only for
    invalid input; infrastructure failures become verdict ``error``."""
    opts = opts or RunOptions()
    result = RunResult(sc, run_dir, options=opts)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sc.path, run_dir / "scenario.toml")
    (run_dir / "scenario.resolved.json").write_text(json.dumps(sc.to_json(), indent=2) + "\n")
    t_all = time.monotonic()
    try:
        t0 = time.monotonic()
        ui.say("run", f"scenario {sc.name}: building kernel")
        if build is None:
            build = kbuild.build(build_request(sc, opts))
        _phase(result, "build", t0)
        result.kernel = build.to_json()
        shutil.copyfile(build.metadata, run_dir / "kernel-metadata.json")
        _check_required(sc, build.config)
        _run_in_guest(sc, build, run_dir, opts, result)
    except InvalidInput:
        raise
    except PgoOrchError as exc:
        result.verdict, result.reason = "error", f"{exc.reason}: {exc.message}"
        result.checks.append(Check("infrastructure", False, exc.reason, exc.message))
    _phase(result, "total", t_all)
    from orchestrator.report import write_all

    write_all(result)
    return result


def _run_in_guest(sc: Scenario, build: kbuild.BuildResult, run_dir: Path, opts: RunOptions,
                  result: RunResult) -> None:
    mc = sc.machine
    bopts = vmguest.BootOptions(accel=opts.accel or mc.accel, cpus=mc.cpus,
                                memory_mb=mc.memory_mb, boot_timeout=mc.boot_timeout,
                                ssh_timeout=mc.ssh_timeout, cmdline_extra=list(mc.cmdline))
    live = LiveDetector(settle_seconds=min(10.0, max(2.0, sc.verdict.settle)))
    image = vmguest.KernelImage(build.vmlinux, build.bzimage, build.config, build.system_map)
    t0 = time.monotonic()
    ui.say("run", "booting")
    try:
        g = vmguest.boot(image, run_dir, bopts, console_listeners=[live.feed])
    except BootFailure as exc:
        _phase(result, "boot", t0)
        result.findings = live.findings()
        _decide_boot_failure(result, exc)
        return
    _phase(result, "boot", t0)
    result.boot = g.boot_info()  # vm hook: adds ssh_port and ssh_host_key
    with g:
        try:
            _scenario_steps(sc, g, run_dir, result, live)
        except SshError as exc:
            if g.machine.gone():
                result.reason = "guest went away during the scenario"
            else:
                result.hang = _hang(g)
                result.reason = f"{exc.reason}: {exc.message}"
            result.checks.append(Check("guest responsive", False, result.reason,
                                       result.hang or ""))
        t1 = time.monotonic()
        _settle(sc, g, live)
        _phase(result, "settle", t1)
        t2 = time.monotonic()
    _phase(result, "teardown", t2)
    result.findings = live.findings()
    if (run_dir / "hang.json").exists():
        result.findings = hang_title.complete(result.findings, run_dir / "hang.json")
    _symbolize(result.findings, build.vmlinux)
    _decide(sc, result)


def _symbolize(findings: list[Finding], vmlinux: Path) -> None:
    """file:line and inlined callers for every frame (titles are already fixed)."""
    if not findings:
        return
    from orchestrator.detect.symbolize import symbolize_findings

    try:
        symbolize_findings(findings, vmlinux)
    except PgoOrchError as exc:
        ui.say("run", f"symbolization skipped: {exc.message}")


def _hang(g: vmguest.Guest) -> str:
    ui.say("run", "guest stopped answering: collecting hang forensics")
    return g.hang_summary()


def _settle(sc: Scenario, g: vmguest.Guest, live: LiveDetector) -> None:
    """Keep watching the console a little: a report may still be arriving."""
    settle = max(sc.verdict.settle, HANG_SETTLE if g.hung else 0.0)
    if settle > sc.verdict.settle:
        ui.say("run", f"watching the console {settle:.0f}s for lockup reports")
    end = time.monotonic() + settle
    while time.monotonic() < end and not g.machine.gone():
        live.poll()
        time.sleep(0.2)


def _find_profile(sc: Scenario, g: vmguest.Guest) -> tuple[str | None, str]:
    script = 'for p; do if [ -e "$p" ]; then echo "$p"; exit 0; fi; done; exit 1'
    res = g.ssh.run(["sh", "-c", script, "find", *sc.profile.paths], timeout=10)
    prof = res.text().strip() if res.ok else None
    res = g.ssh.run(["sh", "-c", script, "find", *sc.profile.reset_paths], timeout=10)
    reset = res.text().strip() if res.ok else ""
    return prof, reset


def _scenario_steps(sc: Scenario, g: vmguest.Guest, run_dir: Path, result: RunResult,
                    live: LiveDetector) -> None:
    t0 = time.monotonic()
    profile, reset = _find_profile(sc, g)
    result.profile_path = profile
    if profile is None and sc.profile.required:
        result.checks.append(Check("profile interface", False, "profile interface not present",
                                   "none of these paths exists in the guest: "
                                   + ", ".join(sc.profile.paths)))
        result.reason = ("profile-interface-missing: none of "
                         + ", ".join(sc.profile.paths) + " exists in the guest")
        return
    if profile is not None:
        result.checks.append(Check("profile interface", True, profile))
        ui.say("run", f"profile interface: {profile}")
    env = (f"export PROFILE={shlex.quote(profile or '')} RESET={shlex.quote(reset)}\n")
    for n, cmd in enumerate(sc.setup, start=1):
        res = g.ssh.run_script(env + cmd, timeout=sc.machine.setup_timeout)
        ok = res.ok and not res.timed_out
        result.checks.append(Check(f"setup {n}", ok, f"exit {res.exit_status}",
                                   res.text()[-2000:]))
        if not ok:
            result.reason = f"setup command {n} failed (exit {res.exit_status})"
            return
    _phase(result, "setup", t0)
    if not sc.readers:
        return
    t1 = time.monotonic()
    gdir = driver.GUEST_DIR
    g.ssh.run(["mkdir", "-p", gdir], timeout=10)
    cfg = run_dir / "driver-config.sh"
    cfg.write_text(driver.config_text(sc, profile=profile or "", reset=reset))
    g.ssh.put(cfg, f"{gdir}/config.sh")
    g.ssh.put(driver.DRIVER_SCRIPT, f"{gdir}/driver.sh")
    deadline = max(r.duration for r in sc.readers) + GRACE
    if all(r.duration == 0 for r in sc.readers):
        deadline = 600.0
    ui.say("run", f"readers: {', '.join(f'{r.name} x{r.parallel}' for r in sc.readers)}; "
                  f"loads: {', '.join(ld.name for ld in sc.loads) or 'none'}")
    stop = threading.Event()
    progress = threading.Thread(target=_progress, args=(g, stop, live), daemon=True)
    progress.start()
    try:
        res = g.ssh.run(["sh", f"{gdir}/driver.sh", "main"], timeout=deadline)
    finally:
        stop.set()
        progress.join(5)
    (run_dir / "driver.log").write_bytes(res.stdout + res.stderr)
    _phase(result, "readers", t1)
    if res.timed_out or res.exit_status is None:
        if g.machine.gone():
            result.reason = "the guest went away while the readers ran"
        else:
            result.hang = _hang(g)
            result.reason = f"readers did not finish within {deadline:.0f}s"
        result.checks.append(Check("readers finished", False, result.reason, result.hang or ""))
        return
    result.readers = driver.parse_output(res.text())
    _gather(sc, g, run_dir, result)


def _progress(g: vmguest.Guest, stop: threading.Event, live: LiveDetector) -> None:
    ticker = ui.Ticker("readers", interval=10.0)
    start = time.monotonic()
    while not stop.wait(3.0):
        live.poll()
        try:
            res = g.ssh.run(["sh", "-c", f"cat {driver.GUEST_DIR}/progress.* 2>/dev/null"],
                            timeout=5)
        except SshError:
            continue
        reads, fails, short = driver.parse_progress(res.text())
        ticker.update(f"{time.monotonic() - start:.0f}s: {reads} reads, {fails} failed, "
                      f"{short} short")


def _gather(sc: Scenario, g: vmguest.Guest, run_dir: Path, result: RunResult) -> None:
    res = g.ssh.run(["sh", "-c", f"ls {driver.GUEST_DIR}/keep"], timeout=10)
    kept = [n for n in res.text().split() if n] if res.ok else []
    if kept:
        pdir = run_dir / "profiles"
        pdir.mkdir(exist_ok=True)
        for name in kept:
            local = pdir / f"{name}.profraw"
            g.ssh.get(f"{driver.GUEST_DIR}/keep/{name}", local, timeout=120)
            result.profiles.append({"file": str(local), "size": local.stat().st_size})
    dm = g.ssh.run(["dmesg"], timeout=30)
    (run_dir / "dmesg.txt").write_bytes(dm.stdout)
    if sc.profile.check and result.profiles:
        from orchestrator.profile import check as pcheck

        tools = json.loads(Path(result.kernel["metadata"]).read_text()).get("toolchain", {})  # type: ignore[arg-type]
        for prof in result.profiles:
            verdict = pcheck.check_file(Path(str(prof["file"])), tools)
            prof.update(verdict.to_json())


def _allowlist(sc: Scenario) -> Allowlist:
    al = Allowlist()
    for a in sc.verdict.allow:
        al.add(a.reason, title=a.title, pattern=a.pattern, klass=a.klass)
    return al


def _decide_boot_failure(result: RunResult, exc: BootFailure) -> None:
    """A boot that died with a kernel report is the kernel's problem; otherwise infra."""
    result.checks.append(Check("boot", False, exc.reason, exc.message))
    fatal = [f for f in result.findings if f.fatal or f.klass == "panic"]
    if exc.reason == "kernel-panic" and fatal:
        result.verdict, result.reason = "fail", f"kernel panic during boot: {fatal[0].title}"
        return
    result.verdict, result.reason = "error", f"{exc.reason}: {exc.message.splitlines()[0]}"


def _decide(sc: Scenario, result: RunResult) -> None:
    unexpected, expected = classify(result.findings, _allowlist(sc))
    fail_on = set(sc.verdict.fail_on)
    failing = [f for f in unexpected if "*" in fail_on or f.klass in fail_on]
    result.expected = expected
    for f in result.findings:
        allowed = next((r for ff, r in expected if ff is f), None)
        bad = f in failing
        result.checks.append(Check(f"kernel: {f.title}", not bad,
                                   f"{f.klass}" + (f" (expected: {allowed})" if allowed else ""),
                                   f.report))
    if not result.findings:
        result.checks.append(Check("kernel: no splat", True, "no kernel report on the console"))
    read_fail = [r for r in result.readers if r.failures or r.short]
    if result.readers:
        for r in result.readers:
            ok = not (r.failures or r.short) or not sc.verdict.fail_on_read_errors
            msg = f"{r.reads} reads, {r.failures} failed, {r.short} short"
            if r.errors:
                msg += f" ({', '.join(r.errors)})"
            result.checks.append(Check(f"reader {r.name}.{r.worker}", ok, msg,
                                       "\n".join(r.events)))
    bad_profiles = [p for p in result.profiles if p.get("valid") is False]
    for p in result.profiles:
        if "valid" in p:
            result.checks.append(Check(f"profile {Path(str(p['file'])).name}",
                                       bool(p["valid"]), str(p.get("message", "")),
                                       str(p.get("detail", ""))))
    if failing:
        result.verdict = "fail"
        result.reason = "; ".join(f.title for f in failing)
    elif read_fail and sc.verdict.fail_on_read_errors:
        result.verdict = "fail"
        result.reason = f"{sum(r.failures for r in read_fail)} failed and " \
                        f"{sum(r.short for r in read_fail)} short reads"
    elif bad_profiles:
        result.verdict = "fail"
        result.reason = f"{len(bad_profiles)} kept profile(s) are not valid profiles"
    elif result.hang:
        result.verdict = "fail"
        result.reason = result.hang
    elif result.reason:
        result.verdict = "error"
    else:
        result.verdict = "pass"
        result.reason = "no unexpected finding, every read succeeded"
