"""One scenario run: build (cached), boot, setup, readers under load, watch, decide, report.

``run_scenario`` is the one programmatic entry point (scenario + run directory in, a
:class:`~orchestrator.results.RunResult` out, every report written); ``pgo-orch run`` and
``job.run_job`` call it. The steps:

1. build the kernel (``kbuild.build``, cached); a build failure, a failed config proof or a
   missing ``require``d option ends the run here with verdict ``error``;
2. boot it (``vmguest.boot``) with the live detector on the console;
3. in the guest: find the profile interface, run the setup commands, run the readers under
   load, copy kept profiles back and check them; every step records an observation;
4. keep watching the console a little, collect findings, mark expected ones;
5. :func:`orchestrator.workflows.decide.decide` turns the observations into the verdict;
6. write the reports (result.json last).

Only invalid input raises (exit 3). Infrastructure faults are verdict ``error``; an interrupt
(SIGINT/SIGTERM/SIGHUP) writes the reports with reason ``interrupted`` and re-raises.
"""

from __future__ import annotations

import shlex
import signal
import threading
import time
from pathlib import Path

from orchestrator import ui
from orchestrator.detect.allowlist import Allowlist
from orchestrator.detect.detector import Finding
from orchestrator.errors import (
    BuildFailed,
    ConfigMismatch,
    InfraError,
    InvalidInput,
    PgoOrchError,
)
from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults
from orchestrator.kernel.kconfig import read_config
from orchestrator.results import (
    BootInfo,
    KernelInfo,
    ProfileCheck,
    RunCheck,
    RunOptions,
    RunResult,
    Verdict,
)
from orchestrator.rundir import RunDir
from orchestrator.scenario import driver
from orchestrator.scenario.model import Scenario
from orchestrator.vm import guest as vmguest
from orchestrator.vm.machine import BootFailure
from orchestrator.vm.ssh import SshError
from orchestrator.workflows import hang_title
from orchestrator.workflows.decide import Observations, Stop, decide
from orchestrator.workflows.live_detect import LiveDetector

__all__ = ["RunOptions", "build_request", "run_scenario"]

GRACE = 60.0  # seconds beyond the readers' duration before the guest counts as hung
#: after a hang, keep watching at least this long: the soft lockup detector reports after
#: 2 x watchdog_thresh (20 s), RCU stalls after 21 s
HANG_SETTLE = 30.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def build_request(sc: Scenario, opts: RunOptions) -> kbuild.BuildRequest:
    """The build this run needs (defaults applied in ``kernel.defaults``)."""
    return defaults.resolve_request(tree=opts.tree, rev=opts.rev,
                                    base_config=sc.kernel.base_config,
                                    fragments=sc.kernel.fragments,
                                    options=[*sc.kernel.options, *opts.extra_options],
                                    jobs=opts.jobs)


def missing_requirements(sc: Scenario, config: Path) -> list[str]:
    """The scenario's ``kernel.require`` entries the final .config does not satisfy."""
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
    return missing


def kernel_info(build: kbuild.BuildResult) -> KernelInfo:
    meta = build.metadata_json()
    return KernelInfo(
        ok=True, key=build.key, cached=build.cached, result_dir=str(build.result_dir),
        log=str(build.log), tree=meta.get("repo") or meta["tree"], commit=meta["commit"],
        rev=meta.get("rev"), vmlinux=str(build.vmlinux), vmlinux_sha256=build.vmlinux_sha256,
        warnings=meta.get("warnings"), metadata=str(build.metadata), config=str(build.config),
        duration_s=round(build.duration, 3), toolchain=dict(meta["toolchain"]))


def run_scenario(sc: Scenario, rd: RunDir | Path, opts: RunOptions | None = None,
                 build: kbuild.BuildResult | None = None, *, job_id: str = "") -> RunResult:
    """Run ``sc`` into ``rd``; returns the result with every report written.

    ``rd`` is a claimed :class:`RunDir` (or a path, used as is). Raises only
    :class:`InvalidInput` for input that cannot be run at all (an unknown tree, fragment or
    revision), :class:`InfraError` when the reports cannot be written (``result`` attribute:
    the value), and ``KeyboardInterrupt`` (after writing the reports)."""
    if isinstance(rd, Path):
        rd.mkdir(parents=True, exist_ok=True)
        rd = RunDir(rd.resolve())
    opts = opts or RunOptions()
    result = RunResult(sc.name, rd.path, description=sc.description, job_id=job_id,
                       options=opts, reproduced=sc.reproduced_by([]))
    t_all = time.monotonic()
    try:
        rd.write_atomic(rd.scenario_toml, sc.source_text or _toml_note(sc))
        rd.write_json(rd.scenario_json, sc.to_json())
        _build_and_run(sc, rd, opts, build, result)
    except KeyboardInterrupt:
        _end(result, Verdict.ERROR, "interrupted", "interrupted (signal or Ctrl-C)")
        result.timings.mark("total", time.monotonic() - t_all)
        # a second signal must not cut the reports short: hold signals while writing
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            _write_reports(result, rd)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    except OSError as exc:  # the host: a full disk, a vanished run directory
        _end(result, Verdict.ERROR, "infra", f"infra: host error: {exc}")
    result.timings.mark("total", time.monotonic() - t_all)
    _write_reports(result, rd)
    return result


class ReportsNotWritten(InfraError):
    """The run ended but its reports could not be written; ``result`` holds the value."""

    def __init__(self, result: RunResult, exc: OSError) -> None:
        super().__init__(f"cannot write the reports into {result.run_dir}: {exc}",
                         reason="infra")
        self.result = result


def _write_reports(result: RunResult, rd: RunDir) -> None:
    from orchestrator.report import write_all

    try:
        write_all(result, rd)
    except OSError as exc:
        if result.reason_code != "interrupted":  # the run's value is not on disk: not usable
            _end(result, Verdict.ERROR, "infra", f"infra: cannot write the reports: {exc}")
        raise ReportsNotWritten(result, exc) from exc


def _toml_note(sc: Scenario) -> str:
    return f"# scenario {sc.name} was given as data; see scenario.resolved.json\n"


def _end(result: RunResult, verdict: Verdict, code: str, reason: str, detail: str = "") -> None:
    result.verdict, result.reason_code, result.reason = verdict, code, reason
    result.checks.append(RunCheck("infrastructure" if verdict is Verdict.ERROR else code,
                                  False, code, detail or reason))


def _build_and_run(sc: Scenario, rd: RunDir, opts: RunOptions,
                   build: kbuild.BuildResult | None, result: RunResult) -> None:
    t0 = time.monotonic()
    ui.say("run", f"scenario {sc.name}: building kernel")
    try:
        if build is None:
            build = kbuild.build(build_request(sc, opts))
    except BuildFailed as exc:
        result.timings.mark("build", time.monotonic() - t0)
        result.kernel = KernelInfo(ok=False, error=exc.first_errors or exc.message,
                                   log=exc.log, rev=opts.rev,
                                   tree=str(opts.tree) if opts.tree else None)
        _end(result, Verdict.ERROR, "build-failed", f"build-failed: {exc.message}",
             exc.first_errors)
        return
    except ConfigMismatch as exc:
        result.timings.mark("build", time.monotonic() - t0)
        result.kernel = KernelInfo(ok=False, error=exc.message, rev=opts.rev,
                                   tree=str(opts.tree) if opts.tree else None)
        _end(result, Verdict.ERROR, "config-mismatch", exc.message)
        return
    except InvalidInput:
        raise
    except PgoOrchError as exc:
        _end(result, Verdict.ERROR, exc.reason, f"{exc.reason}: {exc.message}", exc.message)
        return
    result.timings.mark("build", time.monotonic() - t0)
    try:
        result.kernel = kernel_info(build)
        rd.write_json(rd.kernel_metadata, build.metadata_json())
    except PgoOrchError as exc:  # metadata missing or corrupt in the cache
        _end(result, Verdict.ERROR, exc.reason, f"{exc.reason}: {exc.message}")
        return
    missing = missing_requirements(sc, build.config)
    if missing:
        err = InvalidInput("the kernel lacks options the scenario requires: "
                           + "; ".join(missing), path=sc.origin, field="kernel.require",
                           reason="requirement-missing")
        _end(result, Verdict.ERROR, "requirement-missing", err.message)
        return
    try:
        with build.lease():  # the cache does not prune this kernel while it runs
            obs = _run_in_guest(sc, build, rd, opts, result)
    except PgoOrchError as exc:
        _end(result, Verdict.ERROR, exc.reason, f"{exc.reason}: {exc.message}", exc.message)
        return
    _symbolize(obs.findings, build.vmlinux)
    _mark_expected(sc, obs.findings)
    d = decide(sc, obs)
    result.findings, result.readers, result.profiles = obs.findings, obs.readers, obs.profiles
    result.hang = obs.hang
    result.verdict, result.reason, result.reason_code = d.verdict, d.reason, d.reason_code
    result.checks, result.reproduced = d.checks, d.reproduced


def _mark_expected(sc: Scenario, findings: list[Finding]) -> None:
    """Set ``Finding.expected`` to the allowlist's reason for the expected findings."""
    al = Allowlist()
    for a in sc.verdict.allow:
        al.add(a.reason, title=a.title, pattern=a.pattern, klass=a.klass)
    for f in findings:
        f.expected = al.reason_for(f)


def _run_in_guest(sc: Scenario, build: kbuild.BuildResult, rd: RunDir, opts: RunOptions,
                  result: RunResult) -> Observations:
    mc = sc.machine
    bopts = vmguest.BootOptions(accel=opts.accel or mc.accel, cpus=mc.cpus,
                                memory_mb=mc.memory_mb, boot_timeout=mc.boot_timeout,
                                ssh_timeout=mc.ssh_timeout, cmdline_extra=list(mc.cmdline))
    live = LiveDetector(settle_seconds=min(10.0, max(2.0, sc.verdict.settle)))
    image = build.image()
    obs = Observations()
    t0 = time.monotonic()
    ui.say("run", "booting")
    try:
        g = vmguest.boot(image, rd.path, bopts, console_listeners=[live.feed])
    except BootFailure as exc:
        result.timings.mark("boot", time.monotonic() - t0)
        obs.findings = live.findings()
        obs.boot_failure = (exc.reason, exc.message)
        return obs
    result.timings.mark("boot", time.monotonic() - t0)
    result.boot = BootInfo(accel=g.accel.accel, method=g.boot_method,
                           phases={k: float(v) for k, v in g.machine.timings.to_json().items()
                                   if isinstance(v, int | float)})
    hung = False
    with g:
        try:
            _scenario_steps(sc, g, rd, result, live, obs)
        except SshError as exc:
            hung = _ssh_failure(g, exc, obs)
        except OSError as exc:  # host side: a full disk, a vanished run directory, ...
            obs.stop = Stop("infra", f"infra: host error during the scenario: {exc}")
            obs.checks.append(RunCheck("host", False, "infra", str(exc)))
        hung = hung or obs.hang is not None
        t1 = time.monotonic()
        _settle(sc, g, live)
        result.timings.mark("settle", time.monotonic() - t1)
        t2 = time.monotonic()
    result.timings.mark("teardown", time.monotonic() - t2)
    obs.findings = live.findings()
    if hung and rd.hang_json.exists():
        obs.findings = hang_title.complete(obs.findings, rd.hang_json)
    return obs


def _ssh_failure(g: vmguest.Guest, exc: SshError, obs: Observations) -> bool:
    """Classify an SSH failure: the guest went away, stopped answering (a hang), or the
    connection failed while the guest still answers (host side: error). True for a hang."""
    if g.machine.gone():
        obs.stop = Stop("qemu-exited", "guest went away during the scenario")
        obs.checks.append(RunCheck("guest responsive", False, obs.stop.text))
        return False
    if g.responsive():
        obs.stop = Stop(exc.reason, f"{exc.reason}: {exc.message}")
        obs.checks.append(RunCheck("ssh", False, obs.stop.text, exc.message))
        return False
    obs.hang = _hang(g)
    obs.checks.append(RunCheck("guest responsive", False, f"{exc.reason}: {exc.message}",
                               obs.hang))
    return True


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


def _scenario_steps(sc: Scenario, g: vmguest.Guest, rd: RunDir, result: RunResult,
                    live: LiveDetector, obs: Observations) -> None:
    try:
        _steps(sc, g, rd, result, live, obs)
    except KeyboardInterrupt:  # the interrupted result still shows what the console had
        result.findings = live.findings()
        _mark_expected(sc, result.findings)
        result.reproduced = sc.reproduced_by([f.title for f in result.findings])
        raise


def _steps(sc: Scenario, g: vmguest.Guest, rd: RunDir, result: RunResult,
           live: LiveDetector, obs: Observations) -> None:
    t0 = time.monotonic()
    profile, reset = _find_profile(sc, g)
    result.profile_path = profile
    if profile is None and sc.profile.required:
        obs.checks.append(RunCheck("profile interface", False, "profile interface not present",
                                   "none of these paths exists in the guest: "
                                   + ", ".join(sc.profile.paths)))
        obs.stop = Stop("profile-interface-missing", "profile-interface-missing: none of "
                        + ", ".join(sc.profile.paths) + " exists in the guest")
        return
    if profile is not None:
        obs.checks.append(RunCheck("profile interface", True, profile))
        ui.say("run", f"profile interface: {profile}")
    env = (f"export PROFILE={shlex.quote(profile or '')} RESET={shlex.quote(reset)}\n")
    for n, cmd in enumerate(sc.setup, start=1):
        res = g.ssh.run_script(env + cmd, timeout=sc.machine.setup_timeout)
        ok = res.ok and not res.timed_out
        obs.checks.append(RunCheck(f"setup {n}", ok, f"exit {res.exit_status}",
                                   res.text()[-2000:]))
        if not ok:
            obs.stop = Stop("setup-failed",
                            f"setup command {n} failed (exit {res.exit_status})")
            return
    result.timings.mark("setup", time.monotonic() - t0)
    if not sc.readers:
        return
    t1 = time.monotonic()
    gdir = driver.GUEST_DIR
    g.ssh.run(["mkdir", "-p", gdir], timeout=10)
    rd.driver_config.write_text(driver.config_text(sc, profile=profile or "", reset=reset))
    g.ssh.put(rd.driver_config, f"{gdir}/config.sh")
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
    rd.driver_log.write_bytes(res.stdout + res.stderr)
    result.timings.mark("readers", time.monotonic() - t1)
    if res.timed_out or res.exit_status is None:
        if g.machine.gone():
            obs.stop = Stop("qemu-exited", "the guest went away while the readers ran")
            reason = obs.stop.text
        else:
            obs.hang = _hang(g)
            reason = f"readers did not finish within {deadline:.0f}s"
        obs.checks.append(RunCheck("readers finished", False, reason, obs.hang or ""))
        return
    obs.readers = driver.parse_output(res.text())
    _gather(sc, g, rd, result, obs)


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


def _gather(sc: Scenario, g: vmguest.Guest, rd: RunDir, result: RunResult,
            obs: Observations) -> None:
    res = g.ssh.run(["sh", "-c", f"ls {driver.GUEST_DIR}/keep"], timeout=10)
    kept = [n for n in res.text().split() if n] if res.ok else []
    if kept:
        rd.profiles.mkdir(exist_ok=True)
        for name in kept:
            local = rd.profiles / f"{name}.profraw"
            g.ssh.get(f"{driver.GUEST_DIR}/keep/{name}", local, timeout=120)
            obs.profiles.append(ProfileCheck(file=str(local), size=local.stat().st_size))
    dm = g.ssh.run(["dmesg"], timeout=30)
    rd.dmesg.write_bytes(dm.stdout)
    if sc.profile.check and obs.profiles:
        from orchestrator.profile import check as pcheck

        for prof in obs.profiles:
            v = pcheck.check_file(Path(prof.file), result.kernel.toolchain)
            prof.valid, prof.message, prof.detail = v.valid, v.message, v.detail
            prof.version, prof.functions = v.version, v.functions
            prof.nonzero_functions = v.nonzero_functions
