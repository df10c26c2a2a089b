"""Find the pattern (找规律, sustained attention): continue rows of repeating pictures.

Each row repeats a short unit of pictures (a shape, solid or outline) two or
more times and ends in one or two empty boxes; the child draws the pictures
that come next. Working row after row without losing the thread is the
sustained part; units grow from two to four pictures with level and age,
and from level 4 the fill changes inside a unit too. Shapes and fills, never
colours, carry the pattern, so it survives a black-and-white printer.

Strategy: rows, row length, unit lengths and blanks follow from (level,
age); each picture is one ``<use>`` of a fixed width with
``data-row``/``data-pos``/``data-item``, each blank a ``<rect
data-blank>``. Every row shows its unit at least twice before the blanks and
the unit is never itself a repetition of a shorter one, so (Fine–Wilf) the
shortest period of what is shown is the unit: the answer is unique and a
test recomputes it from the SVG alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, widest

_FILLS = ("f", "o")
_TOP, _BOTTOM = 70.0, 280.0
_X0, _W = 22.0, 170.0
_SLOTS = 10  # pictures per row, blanks included

Item = tuple[int, int]  # (shape, fill)


@dataclass(frozen=True, slots=True)
class _Data:
    units: tuple[tuple[Item, ...], ...]  # one unit per row


def _item(x: float, y: float, row: int, pos: int, shape: int, fill: int) -> str:
    return (
        f'<use href="#p{shape}" x="{num(x)}" y="{num(y)}" class="p{_FILLS[fill]}" '
        f'data-row="{row}" data-pos="{pos}" data-item="{shape},{fill}"/>'
    )


def _blank(x: float, y: float, row: int, pos: int) -> str:
    return (
        f'<rect x="{num(x - 7)}" y="{num(y - 7)}" width="14" height="14" rx="1.5" class="pb" '
        f'data-row="{row}" data-pos="{pos}" data-blank="1"/>'
    )


def _primitive(unit: list[Item]) -> bool:
    """True if ``unit`` is not a shorter unit repeated (e.g. AB AB is not primitive)."""
    p = len(unit)
    return all(unit != unit[q:] + unit[:q] for q in range(1, p) if p % q == 0)


class Patterns(Kind):
    name = "patterns"
    dimension = "sustained"
    css: ClassVar[str] = (
        ".pf{fill:#333;stroke:#222;stroke-width:.5}.po{fill:#fff;stroke:#222;stroke-width:.7}"
        ".pb{fill:none;stroke:#555;stroke-width:.5;stroke-dasharray:1.5 1}"
        ".pn{font-size:4.2px;font-weight:700;fill:#555}.pk{opacity:.9}"
    )

    def shape(self, spec: ExerciseSpec) -> tuple[int, int, int]:
        """(rows, longest unit, blanks per row)."""
        rows = ramp(spec.level, spec.age, 5, 10)
        longest = ramp(spec.level, spec.age, 2, 4)
        blanks = 1 if spec.level < 5 else 2
        return rows, longest, blanks

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        rows, longest, _ = self.shape(spec)
        shapes = 3 if spec.age < 6 else 5 if spec.level <= 3 else 8
        units = []
        for _ in range(rows):
            p = rng.randint(2, longest)
            while True:
                fill = rng.randrange(2)
                unit = [
                    (rng.randrange(shapes), rng.randrange(2) if spec.level >= 4 else fill)
                    for _ in range(p)
                ]
                if _primitive(unit):
                    break
            units.append(tuple(unit))
        return _Data(tuple(units))

    def _xy(self, spec: ExerciseSpec, row: int, pos: int) -> tuple[float, float]:
        rows, _, _ = self.shape(spec)
        dy = (_BOTTOM - _TOP) / rows
        return _X0 + (pos + 0.5) * _W / _SLOTS, _TOP + (row + 0.5) * dy

    def _numbers(self, spec: ExerciseSpec) -> str:
        rows, _, _ = self.shape(spec)
        out = [shape_defs(5.0, "p")]
        for r in range(rows):
            _, y = self._xy(spec, r, 0)
            out.append(f'<text x="15" y="{num(y + 1.5)}" class="pn">{r + 1}</text>')
        return "".join(out)

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        rows, _, blanks = self.shape(spec)
        item = widest(_item, 888.8, 888.8, 99, 9, 7, 1)
        box = widest(_blank, 888.8, 888.8, 99, 9)
        return blen(self._numbers(spec)) + rows * ((_SLOTS - blanks) * item + blanks * box)

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        _, _, blanks = self.shape(spec)
        out = [self._numbers(spec)]
        for r, unit in enumerate(data.units):
            for pos in range(_SLOTS):
                x, y = self._xy(spec, r, pos)
                if pos < _SLOTS - blanks:
                    shape, fill = unit[pos % len(unit)]
                    out.append(_item(x, y, r, pos, shape, fill))
                else:
                    out.append(_blank(x, y, r, pos))
        return "".join(out)

    def _key_bound(self, spec: ExerciseSpec) -> int:
        rows, _, blanks = self.shape(spec)
        item = widest(_item, 888.8, 888.8, 99, 9, 7, 1)
        wrap = len('<g class="pk" data-role="answers"></g>')
        return self._sheet_bound(spec) + wrap + rows * blanks * item

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        _, _, blanks = self.shape(spec)
        out = [self._sheet_body(spec, data), '<g class="pk" data-role="answers">']
        for r, unit in enumerate(data.units):
            for pos in range(_SLOTS - blanks, _SLOTS):
                shape, fill = unit[pos % len(unit)]
                out.append(_item(*self._xy(spec, r, pos), r, pos, shape, fill))
        out.append("</g>")
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 2 + self.shape(spec)[0] // 3

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.patterns.instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.patterns.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.patterns.key_note")
