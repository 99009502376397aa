"""The /init template renders, is valid busybox sh, and prints the markers the host waits for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.rootfs.assemble import (
    INIT_FAIL_FLAG,
    NO_SSHD_FLAG,
    SSHD_READY_MARKER,
    USERSPACE_UP_MARKER,
    render_init,
)

BUSYBOX = Path("/bin/busybox")


def test_renders_completely() -> None:
    text = render_init()
    assert text.startswith("#!/bin/busybox sh\n")
    assert "{{" not in text and "{%" not in text
    assert "10.0.2.15/24" in text and "via 10.0.2.2" in text
    assert ":0016 " in text  # port 22 as /proc/net/tcp writes it
    assert "/usr/sbin/dropbear $hostkey_opt -E -s -F -p 22" in text
    assert 'hostkey_opt="-r /etc/dropbear/dropbear_ed25519_host_key"' in text


def test_markers_and_fault_flags_present() -> None:
    text = render_init()
    marker_lines = [line for line in text.splitlines() if line.lstrip().startswith("log ")]
    prefix = USERSPACE_UP_MARKER.split(" ", 1)[0]
    assert 'log() { echo "' + prefix + ' $*"; }' in text
    assert any('"userspace up"' in line for line in marker_lines)
    assert any('"sshd ready"' in line for line in marker_lines)
    assert prefix + " sshd ready" == SSHD_READY_MARKER
    assert f"has_flag {INIT_FAIL_FLAG}" in text
    assert f"has_flag {NO_SSHD_FLAG}" in text
    # the first thing init does is say it is alive
    first_cmd = [
        line for line in text.splitlines()[1:] if line.strip() and not line.startswith("#")
    ]
    assert "userspace up" in "\n".join(first_cmd[:5])


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox not installed")
def test_busybox_sh_syntax_check(tmp_path: Path) -> None:
    script = tmp_path / "init"
    script.write_text(render_init())
    res = subprocess.run([str(BUSYBOX), "sh", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    broken = tmp_path / "broken"
    broken.write_text(render_init() + "\nif then fi\n")
    assert subprocess.run([str(BUSYBOX), "sh", "-n", str(broken)], capture_output=True).returncode


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox not installed")
def test_flag_parsing_matches_whole_words(tmp_path: Path) -> None:
    """Run the script's own has_flag function against sample command lines."""
    text = render_init()
    start = text.index("has_flag() {")
    func = text[start : text.index("}\n", text.index("return 1", start)) + 2]
    script = tmp_path / "flags.sh"
    script.write_text(func + 'cmdline=" $1 "\nhas_flag "$2"\n')

    def has(cmdline: str, flag: str) -> bool:
        res = subprocess.run([str(BUSYBOX), "sh", str(script), cmdline, flag])
        return res.returncode == 0

    assert has("console=ttyS0 pgo_orch.init_fail=1 panic=-1", INIT_FAIL_FLAG)
    assert has("pgo_orch.no_sshd=1", NO_SSHD_FLAG)
    assert not has("console=ttyS0 pgo_orch.init_fail=10", INIT_FAIL_FLAG)
    assert not has("xpgo_orch.no_sshd=1", NO_SSHD_FLAG)
    assert not has("console=ttyS0", INIT_FAIL_FLAG)


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox not installed")
def test_sshd_listening_check_sees_a_real_socket(tmp_path: Path) -> None:
    """The /proc/net/tcp probe init uses before printing "sshd ready"."""
    import socket

    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    text = render_init(ssh_port=port)
    start = text.index("sshd_listening() {")
    func = text[start : text.index("}\n", start) + 2]
    script = tmp_path / "probe.sh"
    script.write_text(func + "sshd_listening\n")
    try:
        assert subprocess.run([str(BUSYBOX), "sh", str(script)]).returncode == 0
    finally:
        listener.close()
    assert subprocess.run([str(BUSYBOX), "sh", str(script)]).returncode != 0
