"""Dot copy (注意广度): copy a figure drawn on a dot grid onto an empty grid.

The upper grid shows a figure of straight strokes between neighbouring dots
(across, down or diagonal); the lower grid has the same dots and nothing
else. The child copies the figure stroke by stroke; holding the shape of a
whole part of the figure at once is what trains span. Grids grow from 3×3 to
6×6 dots and figures from 3 to 14 strokes with level and age.

Strategy: the grid size and the number of strokes follow from (level, age);
each stroke is one ``<line>`` of a fixed width carrying
``data-seg="r1,c1,r2,c2"`` in grid coordinates, so the bound is exact and a
test compares the key's strokes on the copy grid with the model's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, widest

_MODEL_TOP, _COPY_TOP = 70.0, 182.0
_SIDE = 90.0  # mm, the square each grid is drawn in
_X0 = 105.0 - _SIDE / 2

Seg = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class _Data:
    segs: tuple[Seg, ...]  # (r1, c1, r2, c2), endpoints in a canonical order


def _dot(x: float, y: float) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="1.1"/>'


def _line(x1: float, y1: float, x2: float, y2: float, seg: Seg) -> str:
    r1, c1, r2, c2 = seg
    return (
        f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
        f'data-seg="{r1},{c1},{r2},{c2}"/>'
    )


def _walk(rng: random.Random, n: int, strokes: int) -> tuple[Seg, ...]:
    """A connected figure: a random walk between neighbouring dots, no stroke twice.

    From a dead end (every stroke from the current dot used) the walk jumps
    back to a dot it has visited, so the figure stays one connected piece.
    """
    steps = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    at = (rng.randrange(n), rng.randrange(n))
    visited = [at]
    segs: list[Seg] = []
    used: set[Seg] = set()
    while len(segs) < strokes:
        options = []
        for dr, dc in steps:
            r, c = at[0] + dr, at[1] + dc
            if 0 <= r < n and 0 <= c < n:
                seg = tuple(sorted((at, (r, c))))
                key: Seg = (seg[0][0], seg[0][1], seg[1][0], seg[1][1])
                if key not in used and not _crosses(key, used):
                    options.append(((r, c), key))
        if not options:
            at = rng.choice(visited)
            continue
        at, key = rng.choice(options)
        used.add(key)
        segs.append(key)
        visited.append(at)
    return tuple(segs)


def _crosses(seg: Seg, used: set[Seg]) -> bool:
    """True if a diagonal stroke would cross the other diagonal of the same square (an X)."""
    r1, c1, r2, c2 = seg
    if r1 == r2 or c1 == c2:
        return False
    top, left = min(r1, r2), min(c1, c2)
    if (r1, c1) == (top, left):  # "\" diagonal: the other is "/"
        other = (top, left + 1, top + 1, left)
    else:
        other = (top, left, top + 1, left + 1)
    return other in used


class DotCopy(Kind):
    name = "dot_copy"
    dimension = "span"
    css: ClassVar[str] = (
        ".dd{fill:#222}.dm{stroke:#222;stroke-width:.9;stroke-linecap:round}"
        ".dk{stroke:#d62728;stroke-width:.9;stroke-linecap:round}"
        ".dl{font-size:4.2px;font-weight:700}.db{fill:none;stroke:#bbb;stroke-width:.3}"
    )

    def shape(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(dots per side, strokes in the figure)."""
        n = ramp(spec.level, spec.age, 3, 6)
        strokes = min(ramp(spec.level, spec.age, 3, 14), 2 * n * (n - 1))
        return n, strokes

    def _data(self, spec: ExerciseSpec) -> _Data:
        n, strokes = self.shape(spec)
        return _Data(_walk(random.Random(spec.seed), n, strokes))

    def _xy(self, spec: ExerciseSpec, top: float, r: int, c: int) -> tuple[float, float]:
        n, _ = self.shape(spec)
        step = _SIDE / (n - 1)
        return _X0 + c * step, top + r * step

    def _grid(self, spec: ExerciseSpec, top: float, role: str) -> str:
        n, _ = self.shape(spec)
        dots = "".join(_dot(*self._xy(spec, top, r, c)) for r in range(n) for c in range(n))
        frame = (
            f'<rect x="{_X0 - 5}" y="{top - 5}" width="{_SIDE + 10}" height="{_SIDE + 10}" '
            'rx="2" class="db"/>'
        )
        return f'{frame}<g class="dd" data-dots="{role}" data-n="{n}">{dots}</g>'

    def _strokes(self, spec: ExerciseSpec, top: float, segs: tuple[Seg, ...], cls: str) -> str:
        out = [f'<g class="{cls}" data-grid="{"model" if top == _MODEL_TOP else "copy"}">']
        for seg in segs:
            x1, y1 = self._xy(spec, top, seg[0], seg[1])
            x2, y2 = self._xy(spec, top, seg[2], seg[3])
            out.append(_line(x1, y1, x2, y2, seg))
        out.append("</g>")
        return "".join(out)

    def _labels(self, spec: ExerciseSpec) -> str:
        t = section(spec.lang, "kind.dot_copy")
        return (
            f'<text x="{_X0 - 5}" y="{_MODEL_TOP - 7}" class="dl">{t["model"]}</text>'
            f'<text x="{_X0 - 5}" y="{_COPY_TOP - 7}" class="dl">{t["copy"]}</text>'
        )

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        _, strokes = self.shape(spec)
        fixed = self._labels(spec) + self._grid(spec, _MODEL_TOP, "model")
        fixed += self._grid(spec, _COPY_TOP, "copy")
        wrapper = len('<g class="dm" data-grid="model"></g>')
        line = widest(_line, 888.8, 888.8, 888.8, 888.8, (9, 9, 9, 9))
        return blen(fixed) + wrapper + strokes * line

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        return (
            self._labels(spec)
            + self._grid(spec, _MODEL_TOP, "model")
            + self._grid(spec, _COPY_TOP, "copy")
            + self._strokes(spec, _MODEL_TOP, data.segs, "dm")
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        _, strokes = self.shape(spec)
        line = widest(_line, 888.8, 888.8, 888.8, 888.8, (9, 9, 9, 9))
        return self._sheet_bound(spec) + len('<g class="dk" data-grid="copy"></g>') + strokes * line

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        return self._sheet_body(spec, data) + self._strokes(spec, _COPY_TOP, data.segs, "dk")

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 3 + self.shape(spec)[1] // 5

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.dot_copy.instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.dot_copy.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.dot_copy.key_note", n=self.shape(spec)[1])
