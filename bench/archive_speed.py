"""How fast is the archive core? Layout, streaming and CRC-32, measured in-process.

Run: ``python bench/archive_speed.py`` (a few seconds; prints a markdown table).

What it measures, and why:

(a) ``ArchiveLayout(entries)`` for 10,000 entries (plan-shaped Chinese paths,
    producer and memory sources built beforehand). The layout runs before the
    first byte of every download (and for every HEAD / Range request), so it
    is pure latency. Median of several runs after a warm-up, so the name
    sanitiser's cache is warm as in a running server; goal <= 50 ms.
(b) Producing a 168 MiB archive (84 distinct 2 MiB in-memory entries,
    STORED, plus 120 small deflated pages; the size of the plan the old system took 5.9 s
    to start) through ``pieces()``. Two consumers: one only takes each
    buffer (the core's own cost: headers, slicing, bookkeeping), one copies
    each buffer into a reused 256 KiB buffer (a stand-in for the unavoidable
    copy into a socket). Then the same with ``ProducerSource`` entries, whose
    CRC-32 is computed while the archive streams. Goal >= 1 GB/s.
(c) CRC-32 throughput of each implementation installed (stdlib zlib,
    zlib-ng, ISA-L) over 64 MiB: it bounds library indexing at start-up and
    the streaming of generated files.

GB/s are 10^9 bytes per second. It imports only the public archive API.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterable

from generators.archive import (
    CRC_IMPLEMENTATION,
    ArchiveLayout,
    Entry,
    FileSlice,
    MemorySource,
    ProducerSource,
)

MIB = 1 << 20
MTIME = 1788739200  # 2026-09-07T00:00:00Z
LAYOUT_ENTRIES = 10_000
LAYOUT_RUNS = 9
STREAM_RUNS = 5
CRC_SIZE = 64 * MIB
CRC_RUNS = 5


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls (after one warm-up call)."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


# -- (a) layout -----------------------------------------------------------------------


def layout_entries(count: int) -> list[Entry]:
    """A plan's worth of paths: weeks, lessons, a sheet and its answer key per exercise."""
    page = b"<svg>" + b"0" * 4000 + b"</svg>"
    html = MemorySource(b"<html>" + "注意力训练教案".encode() * 300 + b"</html>")
    entries = []
    for i in range(count):
        week, lesson, item = i // 700 + 1, i // 50 % 14 + 1, i % 50 + 1
        folder = f"张三—4周训练方案/第{week:02d}周/第{lesson:02d}课"
        if i % 10 == 0:
            entries.append(Entry(f"{folder}/教案 {item:02d}.html", html, MTIME))
        else:
            source = ProducerSource(len(page), _constant(page), f"sheet-{i}")
            entries.append(Entry(f"{folder}/{item:02d}_舒尔特方格.svg", source, MTIME))
    return entries


def bench_layout() -> float:
    entries = layout_entries(LAYOUT_ENTRIES)
    return median_seconds(lambda: ArchiveLayout(entries), LAYOUT_RUNS)


# -- (b) streaming ----------------------------------------------------------------------


def stream_entries(bodies: list[bytes], producers: bool) -> list[Entry]:
    """The 2 MiB bodies (STORED) and 120 small deflated pages."""
    page = ("<p>第01课：舒尔特方格 5×5，每分钟标记一次。</p>" * 60).encode()
    entries = []
    for i, body in enumerate(bodies):
        name = f"方案/第{i // 21 + 1:02d}周/材料 {i:02d}.pdf"
        if producers:
            source: MemorySource | ProducerSource = ProducerSource(
                len(body), _constant(body), f"big-{i}"
            )
        else:
            source = MemorySource(body, compress=False)
        entries.append(Entry(name, source, MTIME))
    for i in range(120):
        entries.append(Entry(f"方案/页面/{i:03d}.html", MemorySource(page), MTIME))
    return entries


def take(pieces: Iterable[object]) -> int:
    total = 0
    for piece in pieces:
        assert not isinstance(piece, FileSlice)
        total += len(piece)  # type: ignore[arg-type]
    return total


def copy_out(pieces: Iterable[object]) -> int:
    sink = memoryview(bytearray(256 * 1024))
    total = 0
    for piece in pieces:
        n = len(piece)  # type: ignore[arg-type]
        for pos in range(0, n, len(sink)):
            part = piece[pos : pos + len(sink)]  # type: ignore[index]
            sink[: len(part)] = part
        total += n
    return total


def bench_stream(
    bodies: list[bytes], producers: bool, consume: Callable[[Iterable[object]], int]
) -> tuple[int, float]:
    entries = stream_entries(bodies, producers)

    def run() -> int:
        # A fresh layout each time: nothing cached from the previous run (CRCs).
        layout = ArchiveLayout(entries)
        produced = consume(layout.pieces())
        assert produced == layout.total_size
        return produced

    size = ArchiveLayout(entries).total_size
    return size, median_seconds(run, STREAM_RUNS)


# -- (c) CRC-32 -------------------------------------------------------------------------


def crc_implementations() -> dict[str, Callable[[bytes, int], int]]:
    found: dict[str, Callable[[bytes, int], int]] = {"zlib (stdlib)": zlib.crc32}
    try:
        from zlib_ng import zlib_ng

        found["zlib-ng"] = zlib_ng.crc32
    except ImportError:
        pass
    try:
        from isal import isal_zlib

        found["isal"] = isal_zlib.crc32
    except ImportError:
        pass
    return found


def bench_crc() -> dict[str, float]:
    data = os.urandom(CRC_SIZE)
    results = {}
    expected = zlib.crc32(data)
    for name, func in crc_implementations().items():
        assert func(data, 0) == expected, name
        results[name] = median_seconds(lambda f=func: f(data, 0), CRC_RUNS)
    return results


# -- report -----------------------------------------------------------------------------


def gbps(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e9:.2f} GB/s"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    print(
        f"archive core speed: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, CRC-32 in use: {CRC_IMPLEMENTATION}\n"
    )
    rows: list[tuple[str, str, str, str]] = []

    layout_s = bench_layout()
    rows.append(
        (
            f"(a) layout of {LAYOUT_ENTRIES:,} entries (median of {LAYOUT_RUNS})",
            f"{layout_s * 1000:.1f} ms",
            "<= 50 ms",
            verdict(layout_s <= 0.050),
        )
    )
    # 84 distinct bodies (168 MiB): one body repeated would stay in the CPU cache.
    bodies = [os.urandom(2 * MIB) for _ in range(84)]
    for producers, label in [
        (False, "MemorySource"),
        (True, "ProducerSource, CRC while streaming"),
    ]:
        for consume, how in [(take, "buffers taken"), (copy_out, "buffers copied")]:
            size, seconds = bench_stream(bodies, producers, consume)
            rows.append(
                (
                    f"(b) {size / MIB:.0f} MiB archive, {label}; {how}",
                    gbps(size, seconds),
                    ">= 1 GB/s",
                    verdict(size / seconds >= 1e9),
                )
            )
    for name, seconds in bench_crc().items():
        rows.append((f"(c) CRC-32 over 64 MiB, {name}", gbps(CRC_SIZE, seconds), "", ""))

    print("| measurement | result | goal | |")
    print("|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
