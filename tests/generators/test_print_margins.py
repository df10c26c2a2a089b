"""Nothing on any sheet or key is printed closer than 10 mm to the paper's edge.

Printers cannot ink their outer few millimetres, and the print rule gives the
page no browser margin, so the drawing must keep its own. Each document is
rasterised with resvg using the machine's fonts (the CJK font the sheets
name, when installed) and the bounding box of everything darker than light
grey must lie inside 10..200 x 10..287 mm. Every kind and variant, at both
ends of the level and age range, in both languages: the widest instruction
lines and the largest grids are what reach the edge.
"""

from __future__ import annotations

import io

import pytest

from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec
from generators.worksheets.page import Kind

resvg_py = pytest.importorskip("resvg_py")
Image = pytest.importorskip("PIL.Image")

DPI = 40.0
MM = 25.4 / DPI  # one pixel, in mm
KINDS: list[Kind] = list(REGISTRY.values())  # type: ignore[arg-type]


def ink_box_mm(svg: bytes) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) margins in mm of the ink, one pixel in the page's favour."""
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg.decode("utf-8"), dpi=DPI))
    grey = Image.open(io.BytesIO(png)).convert("L")
    box = grey.point(lambda v: 255 if v < 200 else 0).getbbox()
    assert box is not None, "blank page"
    w, h = grey.size
    left, top, right, bottom = box
    return ((left + 1) * MM, (top + 1) * MM, (w - right + 1) * MM, (h - bottom + 1) * MM)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_ten_millimetres_clear_on_every_side(kind: Kind) -> None:
    cases = [
        (1, kind.min_age, "zh"),
        (MAX_LEVEL, kind.max_age, "en"),
        (MAX_LEVEL, kind.max_age, "zh"),
        (5, (kind.min_age + kind.max_age) // 2, "en"),
    ]
    for variant in kind.variants:
        for level, age, lang in cases:
            spec = ExerciseSpec(kind.name, level, age, 31 * level + age, lang, variant)
            for doc in (kind.sheet(spec), kind.answer_key(spec)):
                margins = ink_box_mm(doc.render())
                assert min(margins) >= 10.0, (spec, [round(m, 1) for m in margins])
