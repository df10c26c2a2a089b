"""How fast a plan becomes an entry list with every size known, and what the list holds.

The download's Content-Length needs every generated file's size before the
first byte, and the server builds the entry list on each new plan link and
first download. This measures, for the 12-lesson reference plan (4 weeks x 3
lessons x 7 exercises, with a 2 MiB-file library) and the largest plan the
form allows (52 weeks x 7 lessons x 10 exercises):

- entry list: ``build_plan`` + ``plan_entries`` (every size, nothing rendered);
- layout: ``ArchiveLayout`` over that list (offsets, total size);
- memory held by the entry list (tracemalloc: bytes still allocated while the
  list is alive, library index excluded);
- for scale, rendering every generated document of the 12-lesson plan once.

Goals (issue 3): 12-lesson entry list <= 20 ms median, 52x7x10 <= 1 s,
entry-list memory <= 2 MiB. Run: ``python bench/plan_speed.py``.
"""

from __future__ import annotations

import gc
import hashlib
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from generators.archive import ArchiveLayout, ProducerSource
from generators.dimensions import DIMENSIONS
from generators.entries import plan_entries
from generators.library import Library
from generators.plan import build_plan
from generators.request import PlanRequest

REFERENCE = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 4,
    "lessons_per_week": 3,
    "exercises_per_lesson": 7,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}
LARGEST = dict(REFERENCE, weeks=52, lessons_per_week=7, exercises_per_lesson=10)


def small_library(root: Path) -> Library:
    """One small file per shelf: the entry list only needs the index, not the bytes."""
    for dim in DIMENSIONS:
        for level in range(1, 6):
            folder = root / dim / str(level)
            folder.mkdir(parents=True)
            (folder / f"材料 {dim} {level}.pdf").write_bytes(
                hashlib.sha256(f"{dim}{level}".encode()).digest() * 64
            )
    return Library.load(str(root))


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def entry_list_memory(req: PlanRequest, library: Library) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    entries = plan_entries(build_plan(req), library)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert entries
    return held


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        library = small_library(Path(tmp) / "lib")
        ref = PlanRequest.from_mapping(REFERENCE)
        big = PlanRequest.from_mapping(LARGEST)
        ref_entries = plan_entries(build_plan(ref), library)
        big_entries = plan_entries(build_plan(big), library)
        rows = []
        for label, req, entries, repeat in (
            ("12 lessons (4x3x7)", ref, ref_entries, 30),
            ("364 lessons (52x7x10)", big, big_entries, 5),
        ):
            t_list = timed(lambda req=req: plan_entries(build_plan(req), library), repeat)
            t_layout = timed(lambda entries=entries: ArchiveLayout(entries), repeat)
            rows.append(
                (label, len(entries), statistics.median(t_list), statistics.median(t_layout))
            )
        mem = entry_list_memory(ref, library)
        producers = [e.source for e in ref_entries if isinstance(e.source, ProducerSource)]
        t_render = timed(lambda: [p.render() for p in producers], 5)

    print("| plan | entries | entry list, median ms | layout, median ms |")
    print("|---|---:|---:|---:|")
    for label, n, t1, t2 in rows:
        print(f"| {label} | {n} | {t1:.1f} | {t2:.1f} |")
    print()
    print(f"memory held by the 12-lesson entry list: {mem / 1024:.0f} KiB (goal <= 2048 KiB)")
    print(
        f"rendering all {len(producers)} generated documents of the 12-lesson plan once: "
        f"{statistics.median(t_render):.0f} ms (what size-stable rendering saves before byte 1)"
    )
    ok = rows[0][2] <= 20 and rows[1][2] <= 1000 and mem <= 2 << 20
    print("goals met" if ok else "GOALS NOT MET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
