"""Trail making (attention shifting): connect scattered circles in a fixed order.

Variants:
- ``numbers``: 1 -> 2 -> ... -> N (N from 8 up to 25 with level and age);
- ``letters``: numbers and letters alternate, 1 -> A -> 2 -> B -> ...;
- ``colors``: each number appears twice, in a red and a blue circle; the path
  goes up the numbers alternating colours (1 red, 2 blue, 3 red ...), so the
  same number in the other colour is a distractor (colour-trails style, no
  reading needed).

Strategy: circles sit in distinct cells of a fixed 5 x 6 lattice, jittered
inside their cell, so they never overlap and placement costs O(N). The trail
is then threaded through them one step at a time, each step only to a circle
whose straight line from the last clears every other circle (``_tour``); a
layout that runs into a dead end is redrawn, and a snake through side-by-side
cells, always clear, is the last resort. The visiting order is deterministic
from the parameters; only positions are random, so the key note ("1 -> A ->
2 ...") is part of the frame and every drawn item has a fixed maximum width.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, widest

_GX, _GY = 5, 6  # lattice columns and rows
_X0, _Y0, _W, _H = 18.0, 66.0, 174.0, 214.0
_CW, _CH = _W / _GX, _H / _GY
_LETTERS = "ABCDEFGHIJKLM"
_CLEAR = 1.5
"""Gap (mm) between the correct path's lines and the edge of any circle not at their ends."""
_ATTEMPTS = 40
"""Random layouts tried before the snake; most sheets need one or two."""


def _jittered(rng: random.Random, cells: list[int], r: float) -> list[tuple[float, float]]:
    """A centre inside each cell, at least ``r + 1.5`` mm from the cell's sides.

    So two circles never overlap, and a line between two side-by-side cells
    stays inside those two cells, clear of every other circle.
    """
    m = r + 1.5
    out = []
    for cell in cells:
        row, col = divmod(cell, _GX)
        x = _X0 + col * _CW + rng.uniform(m, _CW - m)
        y = _Y0 + row * _CH + rng.uniform(m, _CH - m - 3.5)  # room for a tag below
        out.append((x, y))
    return out


def segment_distance(
    p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
) -> float:
    """Shortest distance from point ``p`` to the segment ``a``-``b`` (mm)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2
    t = min(max(t, 0.0), 1.0)
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def _segment_clear(xy: list[tuple[float, float]], i: int, j: int, clearance: float) -> bool:
    """True when the line from circle ``i`` to ``j`` keeps ``clearance`` from every other centre."""
    a, b = xy[i], xy[j]
    return all(k in (i, j) or segment_distance(p, a, b) >= clearance for k, p in enumerate(xy))


@dataclass(frozen=True, slots=True)
class _Node:
    label: str
    colour: str  # "n" plain, "nr" red, "nb" blue (CSS class of the circle)
    step: int  # 1-based position on the trail, 0 for a distractor


@dataclass(frozen=True, slots=True)
class _Data:
    nodes: tuple[_Node, ...]
    xy: tuple[tuple[float, float], ...]


def _shape(x: float, y: float, r: float, cls: str) -> str:
    """A circle, or for the blue set a rounded square of the same reach.

    The two colour sets differ in shape as well as hue, so the task survives
    a black-and-white printer (pink and light blue print as the same grey).
    The square's corners stay within ``r`` of its centre.
    """
    if cls != "nb":
        return f'<circle cx="{num(x)}" cy="{num(y)}" r="{r}" class="{cls}"/>'
    h = round(r * 0.8, 1)
    x, y = round(x, 1), round(y, 1)  # the centre is exactly the circle's would be
    return (
        f'<rect x="{num(x - h)}" y="{num(y - h)}" width="{2 * h}" height="{2 * h}" '
        f'rx="{round(r * 0.25, 1)}" class="{cls}" data-node=""/>'
    )


def _node(x: float, y: float, r: float, cls: str, label: str, fs: float) -> str:
    return _shape(x, y, r, cls) + f'<text x="{num(x)}" y="{num(y + fs * 0.36)}">{label}</text>'


def _key_node(x: float, y: float, r: float, cls: str, label: str, fs: float, step: int) -> str:
    return _shape(x, y, r, cls) + (
        f'<text x="{num(x)}" y="{num(y + fs * 0.36)}" data-step="{step}">{label}</text>'
    )


def _tag(x: float, y: float, text: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" class="tg">{text}</text>'


class TrailMaking(Kind):
    name = "trail_making"
    dimension = "shifting"
    variants = ("numbers", "letters", "colors")
    variant_min_age: ClassVar[dict[str, int]] = {"letters": 7, "colors": 5}
    latin_variants: ClassVar[frozenset[str]] = frozenset({"letters"})
    css: ClassVar[str] = (
        ".tm{text-anchor:middle;font-weight:700}.tm circle,.tm rect{stroke:#222;stroke-width:.45}"
        ".n{fill:#fff}.nr{fill:#f08a8a}.nb{fill:#d2e2f8}.tg{font-size:3.2px;fill:#c0392b;"
        "font-weight:700}.tp{fill:none;stroke:#d62728;stroke-width:.7;stroke-opacity:.8}"
        ".dim{opacity:.35}"
    )

    def default_variant(self, age: int, lang: str) -> str:
        return "numbers" if age < 7 else "colors" if age < 9 else "letters"

    def trail(self, spec: ExerciseSpec) -> tuple[_Node, ...]:
        """All circles: the trail in order, then distractors (colors variant only)."""
        v = self.variant_of(spec)
        lv, age = spec.level, spec.age
        if v == "colors":
            k = ramp(lv, age, 5, 13)
            path = [_Node(str(i + 1), "nr" if i % 2 == 0 else "nb", i + 1) for i in range(k)]
            lures = [_Node(str(i + 1), "nb" if i % 2 == 0 else "nr", 0) for i in range(k)]
            return tuple(path + lures)
        if v == "letters":
            n = ramp(lv, age, 8, 24)
            labels = [str(i // 2 + 1) if i % 2 == 0 else _LETTERS[i // 2] for i in range(n)]
            return tuple(_Node(s, "n", i + 1) for i, s in enumerate(labels))
        n = ramp(lv, age, 8, 25)
        return tuple(_Node(str(i + 1), "n", i + 1) for i in range(n))

    @staticmethod
    def _radius(count: int) -> tuple[float, float]:
        """Circle radius and font size: larger circles when there are few."""
        r = 7.0 if count <= 12 else 6.0 if count <= 20 else 5.0
        return r, round(r * 0.9, 1)

    def _data(self, spec: ExerciseSpec) -> _Data:
        nodes = self.trail(spec)
        rng = random.Random(spec.seed)
        r, _ = self._radius(len(nodes))
        n_path = sum(1 for n in nodes if n.step)
        for _ in range(_ATTEMPTS):
            xy = _jittered(rng, rng.sample(range(_GX * _GY), len(nodes)), r)
            order = self._tour(spec, rng, xy, n_path, r)
            if order is not None:
                return _Data(nodes, tuple(xy[i] for i in order))
        # Every attempt ran into a dead end (rare, dense sheets only): a snake
        # through the lattice joins only side-by-side cells, which is always clear.
        snake = [
            row * _GX + (col if row % 2 == 0 else _GX - 1 - col)
            for row in range(_GY)
            for col in range(_GX)
        ]
        xy = _jittered(rng, snake[: len(nodes)], r)
        return _Data(nodes, tuple(xy))

    @staticmethod
    def _tour(
        spec: ExerciseSpec,
        rng: random.Random,
        xy: list[tuple[float, float]],
        n_path: int,
        r: float,
    ) -> list[int] | None:
        """Order the first ``n_path`` positions into a trail, or None at a dead end.

        Each step may only go to a circle whose straight line from the last
        one clears every other circle by ``_CLEAR`` mm: a child drawing the
        correct path never has to cross an unrelated circle, and the key's
        line never runs through one. Among the clear steps, low levels almost
        always take one of the two nearest (a short trail, as on printed trail
        tests); higher levels jump anywhere more often, so the child searches.
        Distractor circles (positions from ``n_path`` on) are obstacles only.
        """
        local = 1.0 - 0.08 * (spec.level - 1)
        free = list(range(1, n_path))
        order = [0]
        while free:
            here = xy[order[-1]]
            free.sort(key=lambda i: (math.dist(here, xy[i]), i))
            near = rng.random() < local
            candidates = free if near else rng.sample(free, len(free))
            want = min(2, len(free)) if near else 1
            clear = []
            for i in candidates:
                if _segment_clear(xy, order[-1], i, r + _CLEAR):
                    clear.append(i)
                    if len(clear) == want:
                        break
            if not clear:
                return None
            pick = clear[rng.randrange(len(clear))]
            free.remove(pick)
            order.append(pick)
        return order + list(range(n_path, len(xy)))

    def _tags(self, spec: ExerciseSpec) -> tuple[str, str]:
        t = section(spec.lang, "kind.trail_making")
        return t["begin"], t["end"]

    def _fixed(self, fs: float) -> tuple[str, str]:
        return f'<g class="tm" font-size="{fs}">', "</g>"

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        nodes = self.trail(spec)
        r, fs = self._radius(len(nodes))
        head, tail = self._fixed(fs)
        wide = max((n.label for n in nodes), key=blen)
        item = max(widest(_node, 888.8, 888.8, r, c, wide, fs) for c in ("nr", "nb"))
        tags = sum(widest(_tag, 888.8, 888.8, t) for t in self._tags(spec))
        return blen(head + tail) + len(nodes) * item + tags

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        r, fs = self._radius(len(data.nodes))
        head, tail = self._fixed(fs)
        out = [head]
        for node, (x, y) in zip(data.nodes, data.xy, strict=True):
            out.append(_node(x, y, r, node.colour, node.label, fs))
        out.append(tail)
        out.extend(self._tag_items(spec, data, r))
        return "".join(out)

    def _tag_items(self, spec: ExerciseSpec, data: _Data, r: float) -> list[str]:
        begin, end = self._tags(spec)
        steps = [i for i, n in enumerate(data.nodes) if n.step]
        first = data.xy[steps[0]]
        last = data.xy[max(steps, key=lambda i: data.nodes[i].step)]
        return [
            _tag(first[0] - r, first[1] + r + 3.2, begin),
            _tag(last[0] - r, last[1] + r + 3.2, end),
        ]

    def _key_bound(self, spec: ExerciseSpec) -> int:
        nodes = self.trail(spec)
        r, fs = self._radius(len(nodes))
        head, tail = self._fixed(fs)
        wide = max((n.label for n in nodes), key=blen)
        item = max(widest(_key_node, 888.8, 888.8, r, c, wide, fs, 99) for c in ("nr", "nb"))
        dim = len('<g class="dim">') + len("</g>")
        pts = sum(1 for n in nodes if n.step) * len("888.8,888.8 ")
        line = len('<polyline class="tp" points=""/>')
        tags = sum(widest(_tag, 888.8, 888.8, t) for t in self._tags(spec))
        return blen(head + tail) + len(nodes) * item + dim + pts + line + tags

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        r, fs = self._radius(len(data.nodes))
        head, tail = self._fixed(fs)
        path = sorted((n.step, xy) for n, xy in zip(data.nodes, data.xy, strict=True) if n.step)
        pts = " ".join(f"{num(x)},{num(y)}" for _, (x, y) in path)
        out = [f'<polyline class="tp" points="{pts}"/>', head]
        lures: list[str] = []
        for node, (x, y) in zip(data.nodes, data.xy, strict=True):
            item = _key_node(x, y, r, node.colour, node.label, fs, node.step)
            (out if node.step else lures).append(item)
        out.append('<g class="dim">')
        out.extend(lures)
        out.append("</g>")
        out.append(tail)
        out.extend(self._tag_items(spec, data, r))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def _sequence(self, spec: ExerciseSpec) -> str:
        path = [n for n in self.trail(spec) if n.step]
        if self.variant_of(spec) == "colors":
            t = section(spec.lang, "kind.trail_making")
            names = {"nr": t["red"], "nb": t["blue"]}
            return " → ".join(f"{names[n.colour]}{n.label}" for n in path)
        return " → ".join(n.label for n in path)

    def minutes(self, spec: ExerciseSpec) -> int:
        count = sum(1 for n in self.trail(spec) if n.step)
        extra = 0 if self.variant_of(spec) == "numbers" else 1
        return (2 if count <= 15 else 3) + extra

    def instructions(self, spec: ExerciseSpec) -> str:
        v = self.variant_of(spec)
        path = [n for n in self.trail(spec) if n.step]
        t = section(spec.lang, "kind.trail_making")
        return t["instructions"].format(rule=t[f"rule_{v}"].format(last=path[-1].label))

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.trail_making.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        # Faded circles exist only on the colour variant (the same numbers in
        # the other colour); the note names them only when the key draws them.
        key = "key_note_colors" if self.variant_of(spec) == "colors" else "key_note"
        return text(spec.lang, f"kind.trail_making.{key}", order=self._sequence(spec))
