"""Count two at once (数图形, divided attention): keep two tallies in one pass.

A field of scattered shapes; two of them are the targets (say circles and
triangles). The child goes through the field once, row by row, and keeps
both counts at the same time, then writes them in the two boxes (or tells
the teacher, for the youngest). Keeping two running counts while searching
is the divided part; fields grow and targets thin out with level and age.
Only shapes tell the pictures apart, so a black-and-white print works.

Strategy: the number of pictures and the number of each target follow from
(level, age); positions, the target pair and the other shapes are random.
Each picture is one ``<use>`` of a fixed width with ``data-i``, the targets
are named in ``<g data-role="targets">``, so a test counts them in the SVG
and checks the key's numbers and rings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, shape_name, widest

_TOP, _BOTTOM = 82.0, 276.0
_X0, _W = 20.0, 170.0


@dataclass(frozen=True, slots=True)
class _Data:
    targets: tuple[int, int]
    items: tuple[tuple[float, float, int], ...]  # (x, y, shape)


def _item(x: float, y: float, i: int, shape: int) -> str:
    return f'<use href="#n{shape}" x="{num(x)}" y="{num(y)}" class="no" data-i="{i}"/>'


def _ring(x: float, y: float, i: int, which: int) -> str:
    return (
        f'<circle cx="{num(x)}" cy="{num(y)}" r="5" class="nk{which}" '
        f'data-role="target" data-i="{i}" data-target="{which}"/>'
    )


class CountTwo(Kind):
    name = "count_two"
    dimension = "divided"
    css: ClassVar[str] = (
        ".no{fill:#fff;stroke:#222;stroke-width:.55}.nt{fill:#fff;stroke:#222;stroke-width:.7}"
        ".nl{font-size:4.2px;font-weight:700}.nb{fill:none;stroke:#555;stroke-width:.5}"
        ".nk0{fill:none;stroke:#d62728;stroke-width:.8}"
        ".nk1{fill:none;stroke:#1f5fbf;stroke-width:.8;stroke-dasharray:1.6 1}"
    )

    def shape(self, spec: ExerciseSpec) -> tuple[int, int, tuple[int, int]]:
        """(rows, columns, (count of target 1, count of target 2))."""
        rows = ramp(spec.level, spec.age, 4, 10)
        cols = ramp(spec.level, spec.age, 5, 11)
        n = rows * cols
        share = 0.3 - 0.012 * (spec.level - 1)  # targets thin out as the level rises
        first = max(3, round(n * share / 2))
        return rows, cols, (first, max(2, first - 1 - spec.level // 4))

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        rows, cols, (k1, k2) = self.shape(spec)
        pool = list(range(8 if spec.level > 3 else 5))
        t1, t2 = rng.sample(pool, 2)
        others = [s for s in pool if s not in (t1, t2)]
        n = rows * cols
        shapes = [t1] * k1 + [t2] * k2 + [rng.choice(others) for _ in range(n - k1 - k2)]
        rng.shuffle(shapes)
        dx, dy = _W / cols, (_BOTTOM - _TOP) / rows
        items = []
        for i, s in enumerate(shapes):
            r, c = divmod(i, cols)
            jx, jy = rng.uniform(-0.18, 0.18) * dx, rng.uniform(-0.18, 0.18) * dy
            items.append((_X0 + (c + 0.5) * dx + jx, _TOP + (r + 0.5) * dy + jy, s))
        return _Data((t1, t2), tuple(items))

    def _radius(self, spec: ExerciseSpec) -> float:
        rows, cols, _ = self.shape(spec)
        return round(min(_W / cols, (_BOTTOM - _TOP) / rows) * 0.28, 1)

    def _head(self, spec: ExerciseSpec, targets: tuple[int, int]) -> str:
        t = section(spec.lang, "kind.count_two")
        out = [shape_defs(self._radius(spec), "n"), shape_defs(3.5, "m")]
        out.append('<g data-role="targets">')
        for j, s in enumerate(targets):
            x = 20 + 90 * j
            out.append(
                f'<use href="#m{s}" x="{x + 4}" y="68" class="nt" data-target="{j}" '
                f'data-shape="{s}"/><text x="{x + 10}" y="69.5" class="nl">'
                f"{t['box'].format(shape=shape_name(s, spec.lang))}</text>"
            )
        out.append("</g>")
        return "".join(out)

    def _widest_head(self, spec: ExerciseSpec) -> int:
        names = sorted(range(8), key=lambda s: blen(shape_name(s, spec.lang)))
        return blen(self._head(spec, (names[-1], names[-2])))

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        rows, cols, _ = self.shape(spec)
        item = widest(_item, 888.8, 888.8, 999, 9)
        return self._widest_head(spec) + len("<g></g>") + rows * cols * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        out = [self._head(spec, data.targets), "<g>"]
        out += [_item(x, y, i, s) for i, (x, y, s) in enumerate(data.items)]
        out.append("</g>")
        return "".join(out)

    def _total(self, spec: ExerciseSpec, j: int, n: int) -> str:
        label = text(spec.lang, "kind.count_two.total", n=n)
        return (
            f'<text x="{30 + 90 * j}" y="76" class="nl" data-role="total" '
            f'data-target="{j}" data-count="{n}">{label}</text>'
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        _, _, (k1, k2) = self.shape(spec)
        ring = widest(_ring, 888.8, 888.8, 999, 1)
        totals = blen(self._total(spec, 0, k1) + self._total(spec, 1, k2))
        return self._sheet_bound(spec) + (k1 + k2) * ring + totals

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        _, _, (k1, k2) = self.shape(spec)
        out = [self._sheet_body(spec, data)]
        for i, (x, y, s) in enumerate(data.items):
            if s in data.targets:
                out.append(_ring(x, y, i, data.targets.index(s)))
        out.append(self._total(spec, 0, k1) + self._total(spec, 1, k2))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        rows, cols, _ = self.shape(spec)
        return 2 + rows * cols // 30

    def instructions(self, spec: ExerciseSpec) -> str:
        return self.young_text(spec, "instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.count_two.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.count_two.key_note")
