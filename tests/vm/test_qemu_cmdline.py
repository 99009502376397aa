from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.vm import qemu


def _spec(**kw: object) -> qemu.QemuSpec:
    spec = qemu.QemuSpec(kernel=Path("/k/vmlinux"), initrd=Path("/r/initrd.gz"), ssh_port=2222)
    for k, v in kw.items():
        setattr(spec, k, v)
    return spec


def test_q35_paused_with_qmp_pvpanic_and_local_port() -> None:
    argv = qemu.command_line(_spec(), Path("/tmp/q.sock"))
    joined = " ".join(argv)
    assert argv[:5] == ["qemu-system-x86_64", "-machine", "q35", "-accel",
                        f"tcg,tb-size={qemu.TCG_TB_SIZE_MB}"]
    assert "-S" in argv and "-no-reboot" in argv
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in joined
    assert "socket,id=qmp0,path=/tmp/q.sock,server=on,wait=off" in joined
    assert "pvpanic-pci" in argv and "panic=pause" in argv
    assert argv[argv.index("-kernel") + 1] == "/k/vmlinux"
    assert "console=ttyS0" in argv[argv.index("-append") + 1]


def test_kvm_uses_host_cpu() -> None:
    argv = qemu.command_line(_spec(accel="kvm"), Path("/tmp/q.sock"))
    assert argv[argv.index("-cpu") + 1] == "host"


@pytest.mark.parametrize(
    "field,value", [("accel", "auto"), ("cpus", 0), ("memory_mb", 64), ("cmdline_extra", ["a\nb"])]
)
def test_invalid_spec(field: str, value: object) -> None:
    with pytest.raises(InvalidInput):
        qemu.command_line(_spec(**{field: value}), Path("/tmp/q.sock"))


def test_pvh_detection(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("CONFIG_X=y\nCONFIG_PVH=y\n")
    assert qemu.is_pvh_capable(cfg)
    cfg.write_text("# CONFIG_PVH is not set\n")
    assert not qemu.is_pvh_capable(cfg)
    assert not qemu.is_pvh_capable(None)


def test_qemu_binds_the_ssh_port_itself() -> None:
    """Item 4: no port is chosen before QEMU binds it (that raced); QEMU binds port 0."""
    assert not hasattr(qemu, "free_port")
    argv = qemu.command_line(_spec(ssh_port=0), Path("/tmp/q.sock"))
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:0-:22" in argv


#: HMP "info usernet" of QEMU 7.2 (Debian 12) started with hostfwd=tcp:127.0.0.1:0-:22
USERNET = ("Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  "
           "Port RecvQ SendQ\r\n  TCP[HOST_FORWARD]   8       127.0.0.1 38799       10.0.2.15"
           "    22     0     0\r\n")


def test_bound_port_read_back_from_info_usernet() -> None:
    assert qemu.parse_usernet_port(USERNET) == 38799
    assert qemu.parse_usernet_port("Hub -1 (net0):\r\n") is None


def test_qemu_is_named_after_its_run_dir() -> None:
    """``ps`` (and the tests' leak checks) can tell whose QEMU it is; commas are escaped."""
    argv = qemu.command_line(_spec(name="/runs/a,b"), Path("/tmp/q.sock"))
    assert argv[argv.index("-name") + 1] == "pgo-orch:/runs/a,,b"
