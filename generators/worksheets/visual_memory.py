"""Look, cover, recall (working memory): study a row of pictures, cover it, find them again.

The top box holds ``n`` pictures to study; the child looks for the time the
teacher gives, folds the page or covers the box, and circles in the lower
grid every picture that was in the box. The lower grid holds the ``n``
pictures again among look-alike distractors, shuffled. A picture is a shape
and a fill (solid or outline), so the task survives a black-and-white
printer: no two pictures differ by colour alone.

Strategy: the number of pictures studied and shown is fixed by (level, age),
each is one ``<use>`` of a fixed width, so the bound is exact up to
coordinate widths. Every picture carries ``data-item="shape,fill"`` inside
``<g data-grid="study|recall">``, so a test can recompute the answer from the
SVG alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, widest

_FILLS = ("f", "o")  # solid, outline
_STUDY_TOP, _STUDY_H = 70.0, 46.0
_RECALL_TOP, _RECALL_H = 140.0, 140.0
_X0, _W = 20.0, 170.0


@dataclass(frozen=True, slots=True)
class _Data:
    study: tuple[tuple[int, int], ...]  # (shape, fill) per picture, left to right
    recall: tuple[tuple[int, int], ...]  # row-major in the lower grid


def _item(x: float, y: float, i: int, shape: int, fill: int) -> str:
    return (
        f'<use href="#v{shape}" x="{num(x)}" y="{num(y)}" class="v{_FILLS[fill]}" '
        f'data-i="{i}" data-item="{shape},{fill}"/>'
    )


def _ring(x: float, y: float, i: int) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="9.5" data-role="seen" data-i="{i}"/>'


class VisualMemory(Kind):
    name = "visual_memory"
    dimension = "working_memory"
    css: ClassVar[str] = (
        ".vf{fill:#333;stroke:#222;stroke-width:.5}.vo{fill:#fff;stroke:#222;stroke-width:.7}"
        ".vb{fill:none;stroke:#999;stroke-width:.4}.vc{fill:none;stroke:#999;stroke-width:.4;"
        "stroke-dasharray:2 2}.vl{font-size:4.2px;font-weight:700}"
        ".vk{fill:none;stroke:#d62728;stroke-width:.9}"
    )

    def counts(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(pictures to study, pictures in the recall grid)."""
        n = ramp(spec.level, spec.age, 3, 8)
        shown = min(16, n + ramp(spec.level, spec.age, 3, 8))
        return n, shown

    def study_seconds(self, spec: ExerciseSpec) -> int:
        """Looking time: about four seconds a picture, a little less for older children."""
        n, _ = self.counts(spec)
        return max(10, min(40, n * (5 if spec.age < 8 else 4)))

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        n, shown = self.counts(spec)
        shapes = 5 if spec.level <= 3 else 8
        pool = [(s, f) for s in range(shapes) for f in range(len(_FILLS))]
        picked = rng.sample(pool, shown)
        study = picked[:n]
        recall = list(picked)
        rng.shuffle(recall)
        return _Data(tuple(study), tuple(recall))

    # -- geometry --------------------------------------------------------------

    def _study_xy(self, spec: ExerciseSpec, i: int) -> tuple[float, float]:
        n, _ = self.counts(spec)
        dx = _W / n
        return _X0 + (i + 0.5) * dx, _STUDY_TOP + _STUDY_H / 2

    def _recall_xy(self, spec: ExerciseSpec, i: int) -> tuple[float, float]:
        _, shown = self.counts(spec)
        cols = 4
        rows = -(-shown // cols)
        r, c = divmod(i, cols)
        return _X0 + (c + 0.5) * _W / cols, _RECALL_TOP + (r + 0.5) * _RECALL_H / rows

    def _frame(self, spec: ExerciseSpec) -> tuple[str, str, str]:
        t = section(spec.lang, "kind.visual_memory")
        head = (
            shape_defs(6.0, "v") + f'<rect x="{_X0 - 3}" y="{_STUDY_TOP - 3}" width="{_W + 6}" '
            f'height="{_STUDY_H + 6}" rx="2" class="vb"/>'
            + f'<text x="{_X0 - 2}" y="{_STUDY_TOP - 5}" class="vl">{t["study"]}</text>'
            + '<line x1="15" y1="128" x2="195" y2="128" class="vc"/>'
            + f'<text x="{_X0 - 2}" y="{_RECALL_TOP - 6}" class="vl">{t["recall"]}</text>'
            + '<g data-grid="study">'
        )
        return head, '</g><g data-grid="recall">', "</g>"

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        _, shown = self.counts(spec)
        n, _ = self.counts(spec)
        item = widest(_item, 888.8, 888.8, 99, 7, 1)
        return blen("".join(self._frame(spec))) + (n + shown) * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        head, mid, end = self._frame(spec)
        out = [head]
        for i, (shape, fill) in enumerate(data.study):
            out.append(_item(*self._study_xy(spec, i), i, shape, fill))
        out.append(mid)
        for i, (shape, fill) in enumerate(data.recall):
            out.append(_item(*self._recall_xy(spec, i), i, shape, fill))
        out.append(end)
        return "".join(out)

    def _count(self, spec: ExerciseSpec) -> str:
        n, _ = self.counts(spec)
        label = text(spec.lang, "kind.visual_memory.count", n=n)
        return (
            f'<text x="190" y="{_RECALL_TOP - 6}" class="vl e" data-role="total" '
            f'data-count="{n}">{label}</text>'
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        n, _ = self.counts(spec)
        ring = widest(_ring, 888.8, 888.8, 99)
        fixed = len('<g class="vk"></g>') + blen(self._count(spec))
        return self._sheet_bound(spec) + n * ring + fixed

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        seen = set(data.study)
        out = [self._sheet_body(spec, data), '<g class="vk">']
        for i, item in enumerate(data.recall):
            if item in seen:
                out.append(_ring(*self._recall_xy(spec, i), i))
        out.append("</g>")
        out.append(self._count(spec))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 3 + self.counts(spec)[0] // 4

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.visual_memory.instructions", s=self.study_seconds(spec))

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.visual_memory.how_to_run", s=self.study_seconds(spec))

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.visual_memory.key_note")
