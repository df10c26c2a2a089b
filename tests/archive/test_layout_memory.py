"""No object per entry in a layout: the largest plan's fits in 2 MiB, and its cost is honest.

Measured with ``tracemalloc`` (every allocation the build leaves behind,
after a collection): the 52-week x 7 lessons x 10 exercises plan with a
library (11,285 entries) must hold at most 2 MiB, and ``PlanArchive.nbytes``
(what the byte-bounded layout cache counts) must be an upper bound of what
is really held, for small and large plans. The compact layout must give the
same bytes as a layout that keeps every entry's source.
"""

from __future__ import annotations

import gc
import hashlib
import tracemalloc
from pathlib import Path

import pytest

from generators.archive import ArchiveLayout, resolve
from generators.entries import build_archive, plan_entries
from generators.library import Library
from generators.plan import build_plan
from generators.request import PlanRequest
from generators.worksheets.base import DIMENSIONS

BIG = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 52,
    "lessons_per_week": 7,
    "exercises_per_lesson": 10,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}
SMALL = {"name": "李四", "mode": "focus", "age": 6, "weeks": 1}
REFERENCE = dict(BIG, weeks=4, lessons_per_week=3, exercises_per_lesson=7)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    root = tmp_path_factory.mktemp("library")
    for dim in DIMENSIONS:
        for level in range(1, 6):
            folder = root / dim / str(level)
            folder.mkdir(parents=True)
            for n in range(2):
                (folder / f"材料 {n + 1} {dim}.bin").write_bytes(hashlib.sha256(b"%d" % n).digest())
    return Library.load(str(root))


def _held(req: PlanRequest, library: Library | None) -> tuple[int, object]:
    """Bytes the built archive keeps alive, by tracemalloc, and the archive."""
    build_archive(req, library)  # warm every lru_cache and interned string first
    gc.collect()
    tracemalloc.start()
    try:
        archive = build_archive(req, library)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return held, archive


@pytest.mark.parametrize(
    ("plan", "with_library"),
    [(BIG, True), (REFERENCE, True), (REFERENCE, False), (SMALL, False)],
    ids=["52w-lib", "reference-lib", "reference", "1w"],
)
def test_nbytes_is_an_upper_bound_of_what_is_held(
    library: Library, plan: dict, with_library: bool
) -> None:
    held, archive = _held(PlanRequest.from_mapping(plan), library if with_library else None)
    nbytes = archive.nbytes  # type: ignore[attr-defined]
    assert held <= nbytes, f"held {held} B > estimate {nbytes} B"
    assert nbytes <= 1.5 * held + 16 * 1024, f"estimate {nbytes} B far above {held} B"
    if plan is BIG:  # the largest plan allowed: 12,741 entries in at most 2 MiB
        # 364 lessons x (lesson page, 2 print files, 10 sheets, 10 keys, 10 materials) + overview,
        # 2 homework files per training lesson (362) and the 4 record documents
        assert len(archive.layout) == 12_013 + 2 * 362 + 4  # type: ignore[attr-defined]
        assert held <= nbytes <= 2 << 20, f"{held / 1024:.0f} KiB held, {nbytes / 1024:.0f} KiB"


def test_compact_layout_gives_the_same_bytes_as_one_keeping_sources(library: Library) -> None:
    req = PlanRequest.from_mapping(dict(BIG, weeks=6))
    compact = build_archive(req, library).layout
    plain = ArchiveLayout(plan_entries(build_plan(req), library))
    assert compact.fingerprint() == plain.fingerprint()
    assert compact.total_size == plain.total_size and compact.names == plain.names

    def digest(layout: ArchiveLayout, start: int = 0) -> str:
        h = hashlib.sha256()
        for piece in resolve(layout.pieces(start)):
            h.update(piece)
        return h.hexdigest()

    assert digest(compact) == digest(plain)
    # A tail window of a fresh compact layout learns its CRCs without the bodies.
    fresh = build_archive(req, library).layout
    tail = fresh.central_offset - 100
    assert digest(fresh, tail) == digest(plain, tail)


def test_entries_view_matches_the_entry_list(library: Library, tmp_path: Path) -> None:
    req = PlanRequest.from_mapping(REFERENCE)
    layout = build_archive(req, library).layout
    listed = plan_entries(build_plan(req), library)
    assert [e.name for e in layout.entries] == layout.names
    for mine, theirs in zip(layout.entries, listed, strict=True):
        assert mine.mtime == theirs.mtime and mine.mode == theirs.mode
        assert mine.source.size == theirs.source.size
        assert mine.source.identity() == theirs.source.identity()
