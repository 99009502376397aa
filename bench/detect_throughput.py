"""Streaming throughput and memory of orchestrator.detect.

Two cases, each at two sizes, fed to one Detector in 1 MiB chunks with the findings merged as
they come (``FindingSet``, as ``pgo-orch detect`` does); nothing is held in memory besides:

* ``noise``: the project's own corpus logs scattered through noise lines (one report per ~2000
  lines);
* ``repeats``: one real report (``real-warning.log``) repeated back to back, so every byte is
  report text and the number of repeats grows with the size (the log of issue 9 item 11).

Prints MB/s and peak memory (tracemalloc peak of Python allocations during the run) per case
and size: memory must not grow with the size nor with the number of repeats.

    python bench/detect_throughput.py                    # noise 50/200 MB, repeats 20/80 MB
    python bench/detect_throughput.py --sizes 20 100 --repeat-sizes 10 40
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.detect import Detector  # noqa: E402
from orchestrator.detect.finding import FindingSet  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "console"
CHUNK = 1 << 20

NOISE_TEMPLATES = [
    "systemd-journald[{pid}]: Received client request to flush runtime journal.",
    "EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: none.",
    'audit: type=1400 audit({t:.3f}:{pid}): apparmor="STATUS" operation="profile_load"',
    "virtio_net virtio0 enp0s2: renamed from eth0",
    "random: crng reseeded on system resumption",
    "prf: flushed {pid} counters in {t:.3f} ms",
    "e1000e 0000:00:02.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None",
    "systemd[1]: Started session-{pid}.scope - Session {pid} of User root.",
]


def _corpus_bodies() -> list[str]:
    bodies = []
    # the project's own captures and hand-written logs (the public excerpts in pub-*.log are
    # other consoles' formats, and their number grows: they would change what is measured)
    for p in sorted(CORPUS.glob("*.log")):
        if p.name.startswith("pub-"):
            continue
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


def generate_repeats(total_bytes: int) -> Iterator[bytes]:
    """Yield ~CHUNK-sized chunks of one real report repeated back to back."""
    lines = (CORPUS / "real-warning.log").read_text(encoding="utf-8").splitlines(keepends=True)
    body = "".join(ln for ln in lines if not ln.startswith("# ")).encode()
    per_chunk = max(1, CHUNK // len(body))
    chunk = body * per_chunk
    produced = 0
    while produced < total_bytes:
        produced += len(chunk)
        yield chunk


Generator = Callable[[int], Iterator[bytes]]


def run(size_mb: int, gen: Generator) -> tuple[float, float, int, int, int]:
    """Traced run: (MB/s, seconds, tracemalloc peak, distinct findings, reports counted)."""
    total = size_mb * 1_000_000
    det = Detector()
    found = FindingSet()
    tracemalloc.start()
    tracemalloc.reset_peak()
    nbytes = 0
    gen_time = 0.0
    start = time.perf_counter()
    it = gen(total)
    while True:
        g0 = time.perf_counter()
        chunk = next(it, None)
        gen_time += time.perf_counter() - g0
        if chunk is None:
            break
        nbytes += len(chunk)
        found.extend(det.feed(chunk))
    found.extend(det.close())
    elapsed = time.perf_counter() - start - gen_time
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    merged = found.findings()
    return nbytes / 1e6 / elapsed, elapsed, peak, len(merged), sum(f.count for f in merged)


def run_untraced(size_mb: int, gen: Generator) -> float:
    """Throughput without tracemalloc overhead."""
    det = Detector()
    found = FindingSet()
    nbytes = 0
    busy = 0.0
    for chunk in gen(size_mb * 1_000_000):
        t0 = time.perf_counter()
        found.extend(det.feed(chunk))
        busy += time.perf_counter() - t0
        nbytes += len(chunk)
    found.extend(det.close())
    return nbytes / 1e6 / busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="noise case, MB")
    ap.add_argument(
        "--repeat-sizes", type=int, nargs="+", default=[20, 80], help="repeats case, MB"
    )
    args = ap.parse_args()
    print(
        f"{'case':>8} {'size':>7} {'MB/s':>8} {'MB/s(traced)':>13} {'tracemalloc peak':>17} "
        f"{'distinct':>9} {'reports':>8}"
    )
    cases: list[tuple[str, Generator, list[int]]] = [
        ("noise", generate, args.sizes),
        ("repeats", generate_repeats, args.repeat_sizes),
    ]
    for name, gen, sizes in cases:
        for size in sizes:
            speed = run_untraced(size, gen)
            traced_speed, _, peak, distinct, reports = run(size, gen)
            print(
                f"{name:>8} {size:>5}MB {speed:8.1f} {traced_speed:13.1f} {peak / 1e6:14.2f} MB "
                f"{distinct:>9} {reports:>8}"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process max RSS: {rss / 1024:.1f} MB (includes the interpreter)")


if __name__ == "__main__":
    main()
