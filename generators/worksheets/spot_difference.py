"""Spot the difference (selective attention): two grids of coloured shapes.

Grid B is grid A with exactly ``d`` cells changed. At low levels a change swaps
the shape for a clearly different one; higher up more changes are subtle: a
look-alike shape (square/diamond, triangle/down-triangle, circle/hexagon,
star/cross) or only the colour, and then always to a colour of a clearly
different grey, so no difference is lost on a black-and-white printer.
Grids grow and ``d`` rises with level and age.

Strategy: every cell of both grids is one ``<use>`` of a shape from
``svg.shape_defs`` with a fill from a fixed palette, so the bound is exact up
to coordinate widths; ``d`` is fixed by the parameters, so the key's circles
are too. Cells carry ``data-cell`` inside ``<g data-grid="a|b">`` so the
difference can be recomputed from the SVG alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, widest

_PALETTE = ("#1a3a8c", "#e53935", "#7cb342", "#fdd835")
"""Navy, red, green, yellow: in this order their greys (Rec. 601 luma) are about
58, 108, 150, 208, so two colours two or more places apart (``_GREY_APART``)
still differ by 90+ grey levels on a black-and-white printer."""
_GREY_APART = 2
_LOOKALIKE = {0: 6, 6: 0, 1: 3, 3: 1, 2: 7, 7: 2, 4: 5, 5: 4}
_X0, _W = 20.0, 170.0
_YA, _YB, _H = 68.0, 176.0, 98.0


@dataclass(frozen=True, slots=True)
class _Data:
    a: tuple[tuple[int, int], ...]  # (shape, colour index) per cell, row-major
    b: tuple[tuple[int, int], ...]
    diffs: tuple[int, ...]  # changed cell indices, ascending


def _item(x: float, y: float, r: int, c: int, shape: int, fill: str) -> str:
    return f'<use href="#s{shape}" x="{num(x)}" y="{num(y)}" data-cell="{r},{c}" fill="{fill}"/>'


def _ring(x: float, y: float, r: int, c: int, rad: float) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="{rad}" data-role="diff" data-cell="{r},{c}"/>'


class SpotDifference(Kind):
    name = "spot_difference"
    dimension = "selective"
    css: ClassVar[str] = (
        ".sf{fill:none;stroke:#999;stroke-width:.4}.sd{fill:none;stroke:#d62728;stroke-width:.8}"
        ".gl{font-size:4.2px;font-weight:700}"
    )

    def size_of(self, spec: ExerciseSpec) -> tuple[int, int, int]:
        """(rows, cols, number of differences)."""
        rows = ramp(spec.level, spec.age, 2, 5)
        cols = ramp(spec.level, spec.age, 3, 8)
        d = min(ramp(spec.level, spec.age, 2, 8), rows * cols // 3)
        return rows, cols, d

    def _geom(self, spec: ExerciseSpec) -> tuple[float, float, float]:
        rows, cols, _ = self.size_of(spec)
        dx, dy = _W / cols, _H / rows
        return dx, dy, round(min(dx, dy) * 0.3, 2)

    def _data(self, spec: ExerciseSpec) -> _Data:
        rows, cols, d = self.size_of(spec)
        rng = random.Random(spec.seed)
        n_shapes = 5 if spec.level <= 3 else 8
        a = [(rng.randrange(n_shapes), rng.randrange(len(_PALETTE))) for _ in range(rows * cols)]
        b = list(a)
        diffs = sorted(rng.sample(range(rows * cols), d))
        subtle = 0.1 * (spec.level - 1)  # share of look-alike / colour-only changes
        for i in diffs:
            shape, colour = a[i]
            if rng.random() < subtle:
                if rng.random() < 0.5:
                    b[i] = (_LOOKALIKE[shape], colour)
                else:
                    # A colour change is also a light/dark change: never colour only.
                    far = [k for k in range(len(_PALETTE)) if abs(k - colour) >= _GREY_APART]
                    b[i] = (shape, rng.choice(far))
            else:
                other = [s for s in range(n_shapes) if s != shape and s != _LOOKALIKE[shape]]
                b[i] = (rng.choice(other), colour)
        return _Data(tuple(a), tuple(b), tuple(diffs))

    def _frame(self, spec: ExerciseSpec) -> tuple[str, str, str]:
        """(defs + grid A open, between the grids, end) — all deterministic."""
        _, _, rad = self._geom(spec)
        t = section(spec.lang, "kind.spot_difference")
        la, lb = t["picture_a"], t["picture_b"]
        box = '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2" class="sf"/>'
        head = (
            shape_defs(rad)
            + box.format(x=_X0 - 3, y=_YA - 3, w=_W + 6, h=_H + 6)
            + box.format(x=_X0 - 3, y=_YB - 3, w=_W + 6, h=_H + 6)
            + f'<text x="{_X0 - 2}" y="{_YA - 4}" class="gl">{la}</text>'
            + f'<text x="{_X0 - 2}" y="{_YB - 4}" class="gl">{lb}</text>'
            + '<g data-grid="a">'
        )
        return head, '</g><g data-grid="b">', "</g>"

    def _grid(self, spec: ExerciseSpec, cells: tuple[tuple[int, int], ...], y0: float) -> str:
        _rows, cols, _ = self.size_of(spec)
        dx, dy, _ = self._geom(spec)
        out = []
        for i, (shape, colour) in enumerate(cells):
            r, c = divmod(i, cols)
            x, y = _X0 + (c + 0.5) * dx, y0 + (r + 0.5) * dy
            out.append(_item(x, y, r, c, shape, _PALETTE[colour]))
        return "".join(out)

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        rows, cols, _ = self.size_of(spec)
        item = widest(_item, 888.8, 888.8, 9, 9, 7, _PALETTE[-1])
        return blen("".join(self._frame(spec))) + 2 * rows * cols * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        head, mid, end = self._frame(spec)
        return head + self._grid(spec, data.a, _YA) + mid + self._grid(spec, data.b, _YB) + end

    def _count(self, spec: ExerciseSpec, d: int) -> str:
        count = text(spec.lang, "kind.spot_difference.count", d=d)
        return (
            f'<text x="190" y="{_YB - 4}" class="gl e" data-role="total" '
            f'data-count="{d}">{count}</text>'
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        _, _, d = self.size_of(spec)
        _, _, rad = self._geom(spec)
        ring = widest(_ring, 888.8, 888.8, 9, 9, round(rad * 1.7, 1))
        fixed = len('<g class="sd"></g>') + blen(self._count(spec, d))
        return self._sheet_bound(spec) + 2 * d * ring + fixed

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        _, cols, d = self.size_of(spec)
        dx, dy, rad = self._geom(spec)
        ring = round(rad * 1.7, 1)
        out = [self._sheet_body(spec, data), '<g class="sd">']
        for y0 in (_YA, _YB):
            for i in data.diffs:
                r, c = divmod(i, cols)
                out.append(_ring(_X0 + (c + 0.5) * dx, y0 + (r + 0.5) * dy, r, c, ring))
        out.append("</g>")
        out.append(self._count(spec, d))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 2 + self.size_of(spec)[2] // 3

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.spot_difference.instructions", d=self.size_of(spec)[2])

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.spot_difference.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.spot_difference.key_note")
