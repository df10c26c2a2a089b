"""Trail making: the correct path never runs through a circle that is not its own.

Judged from the rendered key alone: the circles (and shapes) drawn, the red
polyline, and the note printed above them. Every level, every variant, both
languages and many seeds: a child tracing the correct path must never have to
cross an unrelated circle, and the key's legend must describe what is drawn.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec

NS = "{http://www.w3.org/2000/svg}"
MARGIN = 1.0  # mm between the path and the edge of any circle it does not join
KIND = REGISTRY["trail_making"]
SEEDS = [12345 + i * (2**64 // 12) for i in range(12)]


def nodes(root: ET.Element) -> list[tuple[float, float, float]]:
    """(cx, cy, radius of the enclosing circle) of every trail node: circles, rounded squares."""
    out = []
    for g in root.iter(NS + "g"):
        for el in g:
            if el.tag == NS + "circle":
                out.append(
                    (float(el.get("cx", "")), float(el.get("cy", "")), float(el.get("r", "")))
                )
            elif el.tag == NS + "rect" and el.get("data-node") is not None:
                x, y = float(el.get("x", "")), float(el.get("y", ""))
                w, rx = float(el.get("width", "")), float(el.get("rx", "0"))
                reach = (w / 2 - rx) * math.sqrt(2) + rx  # to the rounded corner's far edge
                out.append((round(x + w / 2, 1), round(y + w / 2, 1), reach))
    return out


def path(root: ET.Element) -> list[tuple[float, float]]:
    (line,) = root.iter(NS + "polyline")
    return [(float(a), float(b)) for a, b in (p.split(",") for p in line.get("points", "").split())]


def distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy)


def note(root: ET.Element) -> str:
    """The key's note: the header text lines under the title, joined."""
    lines = [
        "".join(t.itertext())
        for t in root.iter(NS + "text")
        if t.get("class") == "i" and 30 < float(t.get("y", "0")) < 58
    ]
    return re.sub(r"\s+", "", "".join(lines))


CASES = [
    (variant, level, age, lang)
    for variant in KIND.variants
    for level in range(1, MAX_LEVEL + 1)
    for age in (5, 7, 9, 11, 14)
    for lang in ("zh", "en")
]


@pytest.mark.parametrize("variant", KIND.variants)
def test_correct_path_clears_every_other_circle(variant: str) -> None:
    """Every level and age of the variant, 12 seeds each: no segment within r + 1 mm."""
    checked = 0
    for v, level, age, lang in CASES:
        if v != variant:
            continue
        for seed in SEEDS:
            spec = ExerciseSpec(KIND.name, level, age, seed, lang, variant)
            key = ET.fromstring(KIND.answer_key(spec).render())
            circles = nodes(key)
            points = path(key)
            ends = {(round(x, 1), round(y, 1)) for x, y in points}
            assert len(ends) == len(points), "the path visits a circle twice"
            for a, b in itertools.pairwise(points):
                for cx, cy, r in circles:
                    if (round(cx, 1), round(cy, 1)) in ((a[0], a[1]), (b[0], b[1])):
                        continue
                    gap = distance((cx, cy), a, b) - r
                    assert gap >= MARGIN, (spec, a, b, (cx, cy), gap)
            checked += 1
    assert checked == len(CASES) // len(KIND.variants) * 12


@pytest.mark.parametrize("variant", KIND.variants)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_key_legend_matches_the_drawing(variant: str, lang: str) -> None:
    """Faded circles are mentioned exactly when drawn; the order printed is the order drawn."""
    for level in (1, 5, 10):
        spec = ExerciseSpec(KIND.name, level, 9, 77 + level, lang, variant)
        key = ET.fromstring(KIND.answer_key(spec).render())
        faded = [g for g in key.iter(NS + "g") if g.get("class") == "dim" and len(g)]
        text = note(key)
        mentions = ("淡色" in text) if lang == "zh" else ("faded" in text)
        assert mentions == bool(faded), (spec, text)
        steps = sorted(
            (int(t.get("data-step", "0")), "".join(t.itertext()))
            for t in key.iter(NS + "text")
            if t.get("data-step") not in (None, "0")
        )
        labels = [label for _, label in steps]
        order = text.split("：" if lang == "zh" else "Order:")[-1].split("→")
        assert [re.sub(r"\D", "", s) or re.sub(r"[^A-Z]", "", s) for s in order] == labels
        assert len(path(key)) == len(labels)
