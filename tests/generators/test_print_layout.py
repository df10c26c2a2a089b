"""Layout defects a teacher sees on the printed page, checked from the drawing.

- The dual task's sample box never covers the road's start flag or the road.
- The cancellation targets sit in their own frame, clearly above the grid's
  first row, so nobody takes them for part of it.
- Teacher-only pages (listening scripts, digit-span cards) carry no name line,
  no child's time limit and no "time taken"; every child sheet still does.
- Schulte and red-black keys number each cell's step instead of drawing a
  line through dozens of cells.
- No child sheet leaves a large empty band: the longest run of blank page
  inside the body (rasterised, resvg) stays under a third of its height.
"""

from __future__ import annotations

import io
import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec
from generators.worksheets.page import BODY_BOTTOM, BODY_TOP, Kind

NS = "{http://www.w3.org/2000/svg}"
KINDS: list[Kind] = list(REGISTRY.values())  # type: ignore[arg-type]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (mm)


def texts(root: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in root.iter(NS + "text"))


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def text_box(el: ET.Element, size: float) -> Box:
    """A generous box around a text: every character one em wide, ascent one em."""
    x, y = float(el.get("x", "")), float(el.get("y", ""))
    width = len("".join(el.itertext())) * size
    if "e" in el.get("class", "").split():  # text-anchor:end
        return (x - width, y - size, x, y + 0.3 * size)
    return (x, y - size, x + width, y + 0.3 * size)


# -- dual task -------------------------------------------------------------------------


def test_dual_task_sample_clear_of_start_flag_and_road() -> None:
    kind = REGISTRY["dual_task"]
    checked = 0
    for level in range(1, MAX_LEVEL + 1):
        for age in (4, 7, 10, 14):
            for lang, seed in (("zh", level), ("en", 2**50 + age)):
                spec = ExerciseSpec(kind.name, level, age, seed, lang, "trace")
                root = ET.fromstring(kind.sheet(spec).render())
                (box_el,) = (r for r in root.iter(NS + "rect") if r.get("class") == "sm")
                x, y = float(box_el.get("x", "")), float(box_el.get("y", ""))
                sample: Box = (x, y, x + float(box_el.get("width", "")), y + 10)
                label = next(t for t in root.iter(NS + "text") if t.get("y") == "70")
                keep_out = [sample, text_box(label, 4.2)]
                flags = [t for t in root.iter(NS + "text") if t.get("class") == "fl"]
                assert len(flags) == 2
                for flag in flags:
                    for area in keep_out:
                        assert not overlap(text_box(flag, 3.6), area), (spec, "flag")
                road = next(p for p in root.iter(NS + "polyline") if p.get("class") == "rd")
                pts = [tuple(map(float, p.split(","))) for p in road.get("points", "").split()]
                for (ax, ay), (bx, by) in itertools.pairwise(pts):
                    steps = max(1, math.ceil(math.dist((ax, ay), (bx, by))))
                    for i in range(steps + 1):
                        px, py = ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps
                        for area in keep_out:  # the road is 9 mm wide
                            grown = (area[0] - 4.5, area[1] - 4.5, area[2] + 4.5, area[3] + 4.5)
                            assert not overlap((px, py, px, py), grown), (spec, "road", px, py)
                checked += 1
    assert checked == MAX_LEVEL * 4 * 2


# -- cancellation ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cancellation", "hanzi_cancellation"])
def test_cancellation_targets_framed_above_the_first_row(name: str) -> None:
    kind = REGISTRY[name]
    for variant in kind.variants:
        for level, age in ((1, 4), (5, 8), (MAX_LEVEL, 14)):
            spec = ExerciseSpec(name, level, max(age, kind.min_age), 9, "zh", variant)
            root = ET.fromstring(kind.sheet(spec).render())
            (frame,) = (r for r in root.iter(NS + "rect") if r.get("class") == "tf")
            fx, fy = float(frame.get("x", "")), float(frame.get("y", ""))
            fx1, fy1 = fx + float(frame.get("width", "")), fy + float(frame.get("height", ""))
            samples = [e for e in root.iter() if e.get("data-role") == "target-sample"]
            assert samples
            for s in samples:
                assert fx < float(s.get("x", "")) < fx1 and fy < float(s.get("y", "")) < fy1
            grid = next(
                g
                for g in root.iter(NS + "g")
                if g.get("font-size") and g.find(NS + "g") is not None
            )
            size = float(grid.get("font-size", ""))
            row0 = next(g for g in grid.iter(NS + "g") if g.get("data-row") == "0")
            ys = [float(e.get("y", "")) for e in row0]
            top = min(ys) - (size if row0[0].tag == NS + "text" else size / 2)
            assert top >= fy1 + 4.0, (spec, top, fy1)


# -- teacher-only pages -----------------------------------------------------------------

CHILD_FIELDS = {"zh": ("姓名", "用时", "限时"), "en": ("Name:", "Time taken", "Time:")}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_teacher_pages_carry_no_child_fields(kind: Kind, lang: str) -> None:
    spec = ExerciseSpec(kind.name, 4, max(kind.min_age, 9), 5, lang, "")
    root = ET.fromstring(kind.sheet(spec).render())
    words = texts(root)
    teacher = kind.name in ("auditory_script", "digit_span")
    assert kind.teacher_only == teacher
    marked = any(e.get("data-role") == "teacher" for e in root.iter())
    assert marked == teacher
    for field in CHILD_FIELDS[lang][:1] + CHILD_FIELDS[lang][2:]:
        assert (field in words) != teacher, (kind.name, field)
    if teacher:
        assert CHILD_FIELDS[lang][1] not in words


# -- readable keys ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["schulte", "schulte_redblack"])
def test_table_keys_number_the_order_instead_of_lines(name: str) -> None:
    kind = REGISTRY[name]
    for level in (1, 6, MAX_LEVEL):
        spec = ExerciseSpec(name, level, 12, 40 + level, "zh", "")
        key = ET.fromstring(kind.answer_key(spec).render())
        assert not list(key.iter(NS + "polyline"))
        step_of = {
            t.get("data-cell"): int(t.get("data-step", ""))
            for t in key.iter(NS + "text")
            if t.get("data-step") is not None
        }
        cells = [
            t for t in key.iter(NS + "text") if t.get("data-cell") and t.get("data-step") is None
        ]
        orders = [t for t in key.iter(NS + "text") if t.get("data-order") is not None]
        assert len(orders) == len(cells) == len(step_of)
        for cell in cells:  # each cell's corner number (up and left of it) is its step
            cx, cy = float(cell.get("x", "")), float(cell.get("y", ""))
            corner = [
                o for o in orders if float(o.get("x", "")) < cx and float(o.get("y", "")) < cy
            ]
            near = min(
                corner,
                key=lambda o: math.dist((float(o.get("x", "")), float(o.get("y", ""))), (cx, cy)),
            )
            assert int(near.get("data-order", "")) == step_of[cell.get("data-cell")]


# -- no large empty areas ---------------------------------------------------------------

resvg_py = pytest.importorskip("resvg_py")
Image = pytest.importorskip("PIL.Image")
PX = 2.0


def longest_blank_mm(svg: bytes) -> float:
    """Longest vertical run (mm) of body rows with no ink across the printable width."""
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg.decode("utf-8"), dpi=25.4 * PX))
    ink = Image.open(io.BytesIO(png)).convert("L").point(lambda v: 255 if v < 200 else 0)
    run = best = 0.0
    y = BODY_TOP
    while y + 1 <= BODY_BOTTOM:
        band = ink.crop((round(10 * PX), round(y * PX), round(200 * PX), round((y + 1) * PX)))
        run = run + 1 if band.getbbox() is None else 0.0
        best = max(best, run)
        y += 1
    return best


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_no_sheet_leaves_a_third_of_its_body_blank(kind: Kind) -> None:
    limit = (BODY_BOTTOM - BODY_TOP) / 3
    for variant in kind.variants:
        for level, age, seed in ((1, kind.min_age, 1), (5, 9, 2), (MAX_LEVEL, kind.max_age, 3)):
            age = min(max(age, kind.min_age), kind.max_age)
            spec = ExerciseSpec(kind.name, level, age, seed, "zh", variant)
            blank = longest_blank_mm(kind.sheet(spec).render())
            assert blank < limit, (spec, blank, limit)
