"""Slot leases: the vCPU and memory budget, shared across processes, freed when one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orchestrator.pool.host import Demand, Host, default_slots, demand_of_scenario
from orchestrator.pool.slots import SlotBook
from orchestrator.vm.qemu import TCG_TB_SIZE_MB

HOST = Host(cpus=2, memory_mb=24 * 1024)
ONE = Demand(vcpus=1, memory_mb=512)


def test_two_one_vcpu_guests_fit_a_two_cpu_host_a_third_waits(tmp_path: Path) -> None:
    book = SlotBook(tmp_path, HOST)
    a = book.try_acquire(ONE, label="a")
    b = book.try_acquire(ONE, label="b")
    assert a is not None and b is not None
    assert {a.slot, b.slot} == {0, 1}
    assert not a.overcommitted and not b.overcommitted
    assert book.try_acquire(ONE, label="c") is None
    assert sorted(i.label for i in book.held()) == ["a", "b"]
    a.release()
    c = book.try_acquire(ONE, label="c")
    assert c is not None and c.slot == 0  # the lowest free slot is reused
    b.release()
    c.release()
    assert book.held() == []


def test_overcommit_lets_more_start_and_marks_them(tmp_path: Path) -> None:
    book = SlotBook(tmp_path, HOST)
    leases = [book.try_acquire(Demand(2, 512), overcommit=True) for _ in range(2)]
    assert all(x is not None for x in leases)
    assert [x.overcommitted for x in leases if x] == [False, True]
    assert leases[1] is not None and leases[1].running_vcpus == 4


def test_a_guest_bigger_than_the_host_runs_alone_marked_overcommitted(tmp_path: Path) -> None:
    book = SlotBook(tmp_path, HOST)
    small = book.try_acquire(ONE)
    assert small is not None
    assert book.try_acquire(Demand(4, 512)) is None
    small.release()
    big = book.try_acquire(Demand(4, 512))
    assert big is not None and big.overcommitted
    assert book.try_acquire(ONE) is None  # nothing beside it


def test_memory_is_counted(tmp_path: Path) -> None:
    book = SlotBook(tmp_path, Host(cpus=8, memory_mb=4000))  # guests get 3000 MiB
    a = book.try_acquire(Demand(1, 2000))
    assert a is not None
    assert book.try_acquire(Demand(1, 2000)) is None
    assert book.try_acquire(Demand(1, 900)) is not None


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from orchestrator.pool.host import Demand, Host
    from orchestrator.pool.slots import SlotBook
    book = SlotBook(Path(sys.argv[1]), Host(cpus=2, memory_mb=24576))
    lease = book.try_acquire(Demand(int(sys.argv[2]), 512), label="other-process")
    print("held" if lease else "none", flush=True)
    time.sleep(60)
""")


def test_a_lease_of_another_process_counts_and_is_freed_when_it_dies(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "2"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        book = SlotBook(tmp_path, HOST)
        assert [i.label for i in book.held()] == ["other-process"]
        assert book.held()[0].pid == proc.pid
        assert book.try_acquire(ONE) is None
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    lease = book.try_acquire(ONE)  # the kernel dropped the dead holder's lock
    assert lease is not None and lease.slot == 0


def test_acquire_waits_for_a_release(tmp_path: Path) -> None:
    import threading

    book = SlotBook(tmp_path, HOST)
    first = book.try_acquire(Demand(2, 512))
    assert first is not None
    threading.Timer(0.6, first.release).start()
    t0 = time.monotonic()
    second = book.acquire(Demand(2, 512))
    assert second.waited_s >= 0.5 and time.monotonic() - t0 >= 0.5
    second.release()


def test_cancel_stops_waiting(tmp_path: Path) -> None:
    import threading

    from orchestrator.errors import InfraError

    book = SlotBook(tmp_path, HOST)
    held = book.try_acquire(Demand(2, 512))
    assert held is not None
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(InfraError, match="cancelled"):
        book.acquire(ONE, cancel=cancel)


def test_default_slots_and_demand() -> None:
    assert default_slots(2, HOST) == 1  # a 2-core CI machine keeps one slot
    assert default_slots(1, HOST) == 2
    assert default_slots(4, HOST) == 1
    assert default_slots(2, Host(cpus=16, memory_mb=1)) == 8
    d = demand_of_scenario('name = "x"\n[machine]\ncpus = 1\nmemory_mb = 512\n')
    assert d.vcpus == 1 and d.memory_mb > 512 + TCG_TB_SIZE_MB
    assert demand_of_scenario('name = "x"\n').vcpus == 2  # the scenario default
    kvm = demand_of_scenario('[machine]\nmemory_mb = 512\n', accel="kvm")
    assert kvm.memory_mb < d.memory_mb  # no translation cache under KVM
