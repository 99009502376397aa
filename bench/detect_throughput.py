"""Streaming throughput and memory of orchestrator.detect.

Builds a large console log on the fly (the corpus logs repeated with noise lines between
them; nothing is held in memory), feeds it to one Detector in 1 MiB chunks, and prints MB/s
and peak memory (tracemalloc peak of Python allocations during the run, and the process's
max RSS) for two sizes, to show memory does not grow with the size.

    python bench/detect_throughput.py            # 50 MB and 200 MB
    python bench/detect_throughput.py --sizes 20 100
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.detect import Detector  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "console"
CHUNK = 1 << 20

NOISE_TEMPLATES = [
    "systemd-journald[{pid}]: Received client request to flush runtime journal.",
    "EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: none.",
    "audit: type=1400 audit({t:.3f}:{pid}): apparmor=\"STATUS\" operation=\"profile_load\"",
    "virtio_net virtio0 enp0s2: renamed from eth0",
    "random: crng reseeded on system resumption",
    "prf: flushed {pid} counters in {t:.3f} ms",
    "e1000e 0000:00:02.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None",
    "systemd[1]: Started session-{pid}.scope - Session {pid} of User root.",
]


def _corpus_bodies() -> list[str]:
    bodies = []
    for p in sorted(CORPUS.glob("*.log")):
        lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
        bodies.append("".join(ln for ln in lines if not ln.startswith("# ")))
    return bodies


def generate(total_bytes: int, seed: int = 1) -> Iterator[bytes]:
    """Yield ~CHUNK-sized byte chunks: noise with a corpus log every ~2000 noise lines."""
    rnd = random.Random(seed)
    bodies = _corpus_bodies()
    produced = 0
    t = 0.0
    buf: list[str] = []
    size = 0
    n = 0
    while produced < total_bytes:
        t += 0.000731
        n += 1
        if n % 2000 == 0:
            line = bodies[rnd.randrange(len(bodies))]
        else:
            tmpl = NOISE_TEMPLATES[rnd.randrange(len(NOISE_TEMPLATES))]
            pid = rnd.randint(1, 30000)
            line = f"[{t:12.6f}][ T{pid:>4}] " + tmpl.format(pid=pid, t=t) + "\n"
        buf.append(line)
        size += len(line)
        if size >= CHUNK:
            data = "".join(buf).encode()
            produced += len(data)
            yield data
            buf, size = [], 0
    if buf:
        yield "".join(buf).encode()


def run(size_mb: int) -> tuple[float, float, int, int]:
    total = size_mb * 1_000_000
    det = Detector()
    tracemalloc.start()
    tracemalloc.reset_peak()
    nbytes = 0
    findings = 0
    gen_time = 0.0
    start = time.perf_counter()
    it = generate(total)
    while True:
        g0 = time.perf_counter()
        chunk = next(it, None)
        gen_time += time.perf_counter() - g0
        if chunk is None:
            break
        nbytes += len(chunk)
        findings += len(det.feed(chunk))
    findings += len(det.close())
    elapsed = time.perf_counter() - start - gen_time
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return nbytes / 1e6 / elapsed, elapsed, peak, findings


def run_untraced(size_mb: int) -> float:
    """Throughput without tracemalloc overhead."""
    det = Detector()
    nbytes = 0
    busy = 0.0
    for chunk in generate(size_mb * 1_000_000):
        t0 = time.perf_counter()
        det.feed(chunk)
        busy += time.perf_counter() - t0
        nbytes += len(chunk)
    det.close()
    return nbytes / 1e6 / busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="sizes in MB")
    args = ap.parse_args()
    print(f"{'size':>8} {'MB/s':>8} {'MB/s(traced)':>13} {'tracemalloc peak':>17} {'findings':>9}")
    for size in args.sizes:
        speed = run_untraced(size)
        traced_speed, _, peak, findings = run(size)
        print(f"{size:>6}MB {speed:8.1f} {traced_speed:13.1f} {peak / 1e6:14.2f} MB {findings:>9}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process max RSS: {rss / 1024:.1f} MB (includes the interpreter)")


if __name__ == "__main__":
    main()
