from __future__ import annotations

from pathlib import Path

from orchestrator.kernel.symbols import SystemMap
from orchestrator.vm import forensics

REGS = """CPU#0
RAX=0000000000000000 RBX=ffff888003c1a000 RCX=0000000000000001 RDX=0000000000000000
RSI=0000000000000246 RDI=ffffffff82a1c3c0 RBP=ffffc90000013d10 RSP=ffffc90000013cf0
R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000
R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000
RIP=ffffffff81a2b3c4 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
CPU#1
RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000
RBP=0000000000000000 RSP=00007ffc1a2b3c40
RIP=0000000000401000 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=1
"""


def test_parse_registers_per_cpu() -> None:
    cpus = forensics.parse_registers(REGS)
    assert [c["CPU"] for c in cpus] == ["0", "1"]
    assert cpus[0]["RIP"] == "ffffffff81a2b3c4" and cpus[0]["RSP"] == "ffffc90000013cf0"
    assert cpus[0]["CPL"] == "0" and cpus[1]["CPL"] == "3" and cpus[1].get("HLT") == "1"
    assert cpus[0]["R8"] == "0000000000000000"


def test_system_map_lookup(tmp_path: Path) -> None:
    m = tmp_path / "System.map"
    m.write_text(
        "ffffffff81000000 T _stext\nffffffff81000000 T startup_64\n"
        "ffffffff81a2b300 t native_queued_spin_lock_slowpath\n"
        "ffffffff81a2b400 T prf_open\nffffffff82000000 T _etext\n"
        "ffffffff82a1c3c0 D pgo_lock\n"
    )
    smap = SystemMap(m)
    assert smap.describe(0xFFFFFFFF81A2B3C4) == "native_queued_spin_lock_slowpath+0xc4"
    assert smap.lookup(0xFFFFFFFF82A1C3C0) is None  # data, not text
    assert smap.is_text(0xFFFFFFFF81A2B410) and not smap.is_text(0x401000)


def test_summary_names_spinning_function() -> None:
    st = forensics.CpuState(
        0,
        "0x1",
        "0x2",
        "0x3",
        0,
        False,
        [
            forensics.StackFrame("0x1", "native_queued_spin_lock_slowpath+0xc4", None, "rip"),
            forensics.StackFrame("0x2", "_raw_spin_lock_irqsave+0x40", None, "frame-pointer"),
            forensics.StackFrame("0x3", "prf_open+0x5c", None, "frame-pointer"),
        ],
    )
    user = forensics.CpuState(1, "0x4", "0x5", "0x6", 3, False)
    text = forensics._summarize([st, user])
    assert (
        "CPU#0 spinning in native_queued_spin_lock_slowpath, called from "
        "_raw_spin_lock_irqsave <- prf_open" in text
    )
    assert "CPU#1 in user space" in text


# --- against a fake QMP that checks argument types as QEMU does ------------------------------

_SMAP = (
    "ffffffff81000000 T _stext\n"
    "ffffffff81100000 t native_queued_spin_lock_slowpath\n"
    "ffffffff81100400 T _raw_spin_lock_irqsave\n"
    "ffffffff81100800 T prf_open\n"
    "ffffffff81100c00 T do_dentry_open\n"
    "ffffffff82000000 T _etext\n"
)
_RSP = 0xFFFFC90000013CF0
_RBP = 0xFFFFC90000013D10


def _stack_words() -> dict[int, bytes]:
    import struct

    # [rbp] = next rbp, [rbp+8] = return address: two frames up the chain
    return {
        _RBP: struct.pack("<QQ", _RBP + 0x40, 0xFFFFFFFF81100420),
        _RBP + 0x40: struct.pack("<QQ", _RBP + 0x80, 0xFFFFFFFF81100830),
        _RBP + 0x80: struct.pack("<QQ", 0, 0xFFFFFFFF81100C10),
    }


def _regs(cmd: str) -> str:
    assert cmd == "info registers -a"
    return (f"CPU#0\nRBP={_RBP:016x} RSP={_RSP:016x}\n"
            "RIP=ffffffff81100010 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n")


def test_collect_reads_the_kernel_stack_through_qmp(tmp_path: Path) -> None:
    """Kernel addresses are >= 2^63: memsave must get them as QMP's signed integers."""
    from orchestrator.vm.qmp import Qmp
    from tests.vm.fake_qmp import FakeQmp

    (tmp_path / "System.map").write_text(_SMAP)
    sock = tmp_path / "qmp.sock"
    fake = FakeQmp(sock, memory=_stack_words(), hmp=_regs)
    qmp = Qmp()
    try:
        import time

        qmp.connect(sock, deadline=time.monotonic() + 5)
        rep = forensics.collect(qmp, tmp_path / "System.map", None, tmp_path)
    finally:
        qmp.close()
        fake.close()
    cpu = rep.cpus[0]
    assert "unreadable" not in cpu.note, cpu.note
    syms = [f.symbol.split("+")[0] for f in cpu.frames if f.how != "stack-scan"]
    assert syms == ["native_queued_spin_lock_slowpath", "_raw_spin_lock_irqsave", "prf_open",
                    "do_dentry_open"]
    saves = [a for c, a in fake.commands if c == "memsave"]
    assert saves and all(-(2**63) <= a["val"] < 2**63 for a in saves)
    assert saves[0]["val"] & (2**64 - 1) == _RSP
    assert "spinning in native_queued_spin_lock_slowpath" in rep.summary


def test_forensics_to_title_on_the_issue_shape(tmp_path: Path) -> None:
    """Item 0 end to end without a VM: two vCPUs spinning on pgo_lock (a reader in
    path_openat first, the reporting task second) read through QMP, then the cut report
    titled from the reporting vCPU."""
    import struct
    import time

    from orchestrator.detect.detector import detect_text
    from orchestrator.vm.qmp import Qmp
    from orchestrator.workflows.hang_title import complete
    from tests.vm.fake_qmp import FakeQmp

    funcs = ["native_queued_spin_lock_slowpath", "_raw_spin_lock_irqsave",
             "__llvm_profile_instrument_target", "vsnprintf", "_printk", "dump_stack_lvl",
             "__might_resched", "__kmalloc_node", "__vmalloc_node_range", "vzalloc",
             "prf_open", "do_dentry_open", "path_openat", "do_sys_openat2"]
    base = 0xFFFFFFFF81100000
    addr = {f: base + 0x400 * i for i, f in enumerate(funcs)}
    (tmp_path / "System.map").write_text(
        "ffffffff81000000 T _stext\n"
        + "".join(f"{a:016x} T {f}\n" for f, a in addr.items())
        + "ffffffff82000000 T _etext\n")

    def chain(rbp: int, callers: list[str]) -> dict[int, bytes]:
        mem = {}
        for i, f in enumerate(callers):
            nxt = rbp + 0x40 if i + 1 < len(callers) else 0
            mem[rbp] = struct.pack("<QQ", nxt, addr[f] + 0x10)
            rbp += 0x40
        return mem

    reader_rbp, reporter_rbp = 0xFFFFC90000013D10, 0xFFFFC90000023D10
    memory = {**chain(reader_rbp, ["_raw_spin_lock_irqsave", "__llvm_profile_instrument_target",
                                   "path_openat", "do_sys_openat2"]),
              **chain(reporter_rbp, ["_raw_spin_lock_irqsave",
                                     "__llvm_profile_instrument_target", "vsnprintf", "_printk",
                                     "dump_stack_lvl", "__might_resched", "__kmalloc_node",
                                     "__vmalloc_node_range", "vzalloc", "prf_open",
                                     "do_dentry_open", "path_openat", "do_sys_openat2"])}
    spin = addr["native_queued_spin_lock_slowpath"] + 8

    def regs(cmd: str) -> str:
        return "".join(
            f"CPU#{i}\nRBP={rbp:016x} RSP={rbp - 0x20:016x}\n"
            f"RIP={spin:016x} RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
            for i, rbp in enumerate((reader_rbp, reporter_rbp)))

    sock = tmp_path / "qmp.sock"
    fake = FakeQmp(sock, memory=memory, hmp=regs)
    qmp = Qmp()
    try:
        qmp.connect(sock, deadline=time.monotonic() + 5)
        rep = forensics.collect(qmp, tmp_path / "System.map", None, tmp_path)
    finally:
        qmp.close()
        fake.close()
    assert rep.summary.count("spinning in native_queued_spin_lock_slowpath") == 2, rep.summary
    corpus = Path(__file__).resolve().parent.parent / "corpus" / "console"
    (cut,) = detect_text((corpus / "pgo-sleep-in-atomic-cut.log").read_text())
    (done,) = complete([cut], rep)
    assert done.title == "BUG: sleeping function called from invalid context in prf_open"
    assert "hang forensics of CPU#1" in done.report
    assert forensics.HangReport.load(tmp_path / "hang.json").summary == rep.summary
