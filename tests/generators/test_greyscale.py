"""Black-and-white printers: every distinction a task relies on survives greyscale.

Most centres print on a black-and-white laser. Each sheet is rasterised with
resvg, converted to grey (Rec. 601 luma, as a grey printer or copier does)
and the task's classes are told apart by grey level alone:

- red-black tables: red cells print dark (white number on a filled cell),
  black cells print light (black number on white);
- colour trails: the two colour sets are different shapes and print at
  clearly different greys;
- spot the difference: every difference is a shape change, or a colour change
  that is also a clear light/dark change.

Only the colour-word Stroop still needs a colour print, and says so.
"""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET

import pytest

from generators.lessons import lesson_doc, overview_doc
from generators.plan import build_plan
from generators.request import PlanRequest
from generators.texts import text
from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec

resvg_py = pytest.importorskip("resvg_py")
Image = pytest.importorskip("PIL.Image")
ImageStat = pytest.importorskip("PIL.ImageStat")

NS = "{http://www.w3.org/2000/svg}"
PX = 2.0  # pixels per mm: 50.8 dpi, so the page's 0.1 mm coordinates fall on a fixed grid
SEEDS = (3, 2**40 + 7, 2**63 + 11)


def grey(svg: bytes) -> Image.Image:
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg.decode("utf-8"), dpi=25.4 * PX))
    return Image.open(io.BytesIO(png)).convert("L")


def patch(img: Image.Image, x_mm: float, y_mm: float, half_mm: float) -> float:
    """Mean grey (0 black .. 255 white) of a square around a point."""
    x, y, h = round(x_mm * PX), round(y_mm * PX), max(1, round(half_mm * PX))
    box = img.crop((x - h, y - h, x + h + 1, y + h + 1))
    return float(ImageStat.Stat(box).mean[0])


def specs(kind: str, variant: str = "") -> list[ExerciseSpec]:
    k = REGISTRY[kind]
    return [
        ExerciseSpec(kind, level, age, seed, lang, variant)
        for level in (1, 5, MAX_LEVEL)
        for age in (max(k.min_age, 8), k.max_age)
        for seed, lang in zip(SEEDS, ("zh", "en", "zh"), strict=True)
    ]


# -- red-black tables -----------------------------------------------------------------


@pytest.mark.parametrize("part", ["sheet", "key"])
def test_red_black_cells_differ_by_fill_in_grey(part: str) -> None:
    kind = REGISTRY["schulte_redblack"]
    for spec in specs("schulte_redblack"):
        doc = kind.sheet(spec) if part == "sheet" else kind.answer_key(spec)
        svg = doc.render()
        root = ET.fromstring(svg)
        lines = next(
            p for p in root.iter(NS + "path") if p.get("class") in ("g", "g2")
        )  # the table's grid
        x0, y0, x1 = map(
            float, re.match(r"M([\d.]+) ([\d.]+)H([\d.]+)", lines.get("d", "")).groups()
        )  # type: ignore[union-attr]
        cells = [
            t
            for t in root.iter(NS + "text")
            if t.get("data-cell") is not None and t.get("class") in ("r", "b")
        ]
        n = round(len(cells) ** 0.5)
        assert n * n == len(cells) >= 16
        side = (x1 - x0) / n
        img = grey(svg)
        backs: dict[str, list[float]] = {"r": [], "b": []}
        for t in cells:
            r, c = map(int, t.get("data-cell", "").split(","))
            # bottom-left corner of the cell: background only (no number, no step tag)
            backs[t.get("class", "")].append(
                patch(img, x0 + (c + 0.15) * side, y0 + (r + 0.85) * side, side * 0.05)
            )
            centre = img.crop(
                (
                    round((x0 + (c + 0.25) * side) * PX),
                    round((y0 + (r + 0.25) * side) * PX),
                    round((x0 + (c + 0.75) * side) * PX),
                    round((y0 + (r + 0.75) * side) * PX),
                )
            )
            lo, hi = centre.getextrema()
            assert hi - lo > 120, (spec, t.get("data-cell"))  # the number stands out in grey
        assert backs["r"] and backs["b"]
        assert max(backs["r"]) < 140 < 200 < min(backs["b"]), (spec, backs)


# -- colour trails ----------------------------------------------------------------------


def test_colour_trail_sets_differ_by_shape_and_grey() -> None:
    kind = REGISTRY["trail_making"]
    for spec in specs("trail_making", "colors"):
        svg = kind.sheet(spec).render()
        root = ET.fromstring(svg)
        shapes: dict[str, set[str]] = {"nr": set(), "nb": set()}
        fills: dict[str, list[float]] = {"nr": [], "nb": []}
        img = grey(svg)
        for el in root.iter():
            cls = el.get("class")
            if cls not in shapes:
                continue
            shapes[cls].add(el.tag)
            if el.tag == NS + "circle":
                cx, cy, r = (float(el.get(a, "")) for a in ("cx", "cy", "r"))
            else:
                r = float(el.get("width", "")) / 2
                cx, cy = float(el.get("x", "")) + r, float(el.get("y", "")) + r
            fills[cls].append(patch(img, cx, cy - 0.7 * r, 0.3))  # above the number
        assert shapes["nr"] and shapes["nb"] and not shapes["nr"] & shapes["nb"], shapes
        assert max(fills["nr"]) + 30 < min(fills["nb"]), (spec, fills)


# -- spot the difference ------------------------------------------------------------------


def test_spot_the_difference_has_no_colour_only_change() -> None:
    kind = REGISTRY["spot_difference"]
    colour_only = 0
    for spec in specs("spot_difference") + specs("spot_difference")[-6:]:
        svg = kind.sheet(spec).render()
        root = ET.fromstring(svg)
        grids = {
            g.get("data-grid"): {u.get("data-cell"): u for u in g.iter(NS + "use")}
            for g in root.iter(NS + "g")
            if g.get("data-grid")
        }
        img = grey(svg)
        for cell, a in grids["a"].items():
            b = grids["b"][cell]
            if (a.get("href"), a.get("fill")) == (b.get("href"), b.get("fill")):
                continue
            if a.get("href") != b.get("href"):
                continue  # a shape change shows in grey as it does in colour
            colour_only += 1
            ga = patch(img, float(a.get("x", "")), float(a.get("y", "")), 0.5)
            gb = patch(img, float(b.get("x", "")), float(b.get("y", "")), 0.5)
            assert abs(ga - gb) >= 60, (spec, cell, a.get("fill"), b.get("fill"), ga, gb)
    assert colour_only > 0  # the sample does contain colour changes


# -- what still needs colour -------------------------------------------------------------


def test_only_the_colour_word_stroop_needs_a_colour_print() -> None:
    needing = set()
    for name, kind in REGISTRY.items():
        for variant in kind.variants:
            for age in (kind.min_age, kind.max_age):
                spec = ExerciseSpec(name, 5, age, 1, "zh", variant)
                if kind.needs_colour(spec):  # type: ignore[attr-defined]
                    needing.add((name, kind.variant_of(spec)))  # type: ignore[attr-defined]
    assert needing == {("stroop", "words")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lesson_plans_and_overview_name_the_sheets_needing_colour(lang: str) -> None:
    """Each lesson plan says which of its sheets need colour (or none); so does the overview."""
    req = PlanRequest(name="Kim", mode="focus", age=9, weeks=4, exercises_per_lesson=10, lang=lang)
    plan = build_plan(req)
    sheets_file = text(lang, "names.print_sheets")
    with_colour = without = 0
    for lesson in plan.lessons:
        page = lesson_doc(plan, lesson).render().decode("utf-8")
        (note,) = re.findall(
            r'<p class="files">([^<]*' + re.escape(sheets_file) + r"[^<]*)</p>", page
        )
        colour = [
            ex
            for ex in lesson.exercises
            if REGISTRY[ex.kind].needs_colour(ex.spec)  # type: ignore[attr-defined]
        ]
        if colour:
            with_colour += 1
            for ex in colour:
                title = html.escape(REGISTRY[ex.kind].title[lang])
                assert text(lang, "doc.colour_item", n=ex.number, title=title) in note
        else:
            without += 1
            assert text(lang, "doc.print_bw") in note
    assert with_colour and without  # both cases are shown
    overview = overview_doc(plan).render().decode("utf-8")
    (item,) = re.findall(r"<li>([^<]*" + re.escape(sheets_file) + r"[^<]*)</li>", overview)
    assert html.escape(REGISTRY["stroop"].title[lang]) in item
