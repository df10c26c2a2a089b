"""SHA-256 of whole archives and of their central-directory windows, to compare two commits.

Run: ``python bench/archive_digests.py SRC_DIR LIBRARY_DIR`` where SRC_DIR
holds the ``generators`` package of the commit to measure (``git archive
<commit> generators | tar -x -C SRC_DIR``) and LIBRARY_DIR a library
(``python bench/make_library.py --out LIBRARY_DIR --file-size 4KiB``).
Run it for two commits and ``diff`` the outputs: a change that must keep the
bytes (such as the compact layout of issue 9) shows no difference. Covers
52 weeks x 7 x 10 in Chinese (assessment) and English (focus) and the
reference plan, each with and without the library; the tail window starts
10 bytes before the central directory of a fresh layout, so CRCs are learnt
without the bodies.
"""

from __future__ import annotations

import hashlib
import sys

PLANS = {
    "52w-assessment-zh": {
        "name": "张三",
        "mode": "assessment",
        "age": 8,
        "weeks": 52,
        "lessons_per_week": 7,
        "exercises_per_lesson": 10,
        "scores": {"span": 40, "sustained": 55, "selective": 70},
        "start_date": "2026-09-07",
    },
    "52w-focus-en": {
        "name": "Tom",
        "mode": "focus",
        "age": 10,
        "weeks": 52,
        "lessons_per_week": 7,
        "exercises_per_lesson": 10,
        "lang": "en",
    },
    "reference": {
        "name": "张三",
        "mode": "assessment",
        "age": 8,
        "weeks": 4,
        "scores": {"span": 40, "sustained": 55, "selective": 70},
        "start_date": "2026-09-07",
    },
}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, argv[0])
    from generators.archive import resolve
    from generators.entries import build_archive
    from generators.library import Library
    from generators.request import PlanRequest

    library = Library.load(argv[1])
    for name, plan in PLANS.items():
        for lib in (None, library):
            req = PlanRequest.from_mapping(plan)
            whole = build_archive(req, lib)
            h = hashlib.sha256()
            for piece in resolve(whole.layout.pieces()):
                h.update(piece)
            fresh = build_archive(req, lib).layout
            t = hashlib.sha256()
            for piece in resolve(fresh.pieces(fresh.central_offset - 10)):
                t.update(piece)
            label = "library" if lib is not None else "no-library"
            print(name, label, whole.layout.total_size, whole.etag, h.hexdigest(), t.hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
