"""Tangled lines (visual tracking): follow each line from its number to its letter.

Strategy: k start points on the left, k end points on the right, joined by a
random permutation. Each line passes through ``segments - 1`` bend points,
where the lines take distinct shuffled heights, and is smoothed into cubic
Béziers (Catmull-Rom), so lines cross each other often; more lines and more
bends with level. Every line is one ``<path>`` with exactly ``segments`` "C"
commands, so its maximum width is fixed by the parameters. The markers and
their labels do not depend on the seed. The key draws the same paths in
distinct colours with ``data-from``/``data-to`` and lists the mapping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.norms import YOUNG_MAX_AGE
from generators.texts import text

from .base import ExerciseSpec
from .page import LATIN_ON_ZH_FROM, Kind, ramp
from .svg import blen, num, widest

_XS, _XE = 24.0, 186.0
_YT, _YB = 72.0, 274.0
_LETTERS = "ABCDEFGH"
_SHAPES = "○△□☆◇♡✕◎"
"""End labels on Chinese sheets before 7, when Latin letters are not yet taught
(stimuli, not text: a child names them by their shape)."""
_PALETTE = ("#d62728", "#1f5fbf", "#2a9d3a", "#e08a00", "#8e44ad", "#00a0a0", "#c2185b", "#6d4c41")


@dataclass(frozen=True, slots=True)
class _Data:
    ends: tuple[int, ...]  # ends[i] = index of the letter that line i reaches
    paths: tuple[str, ...]  # the "d" of each line


def _path(d: str) -> str:
    return f'<path d="{d}"/>'


def _key_path(colour: str, start: int, end: str, d: str) -> str:
    return f'<path stroke="{colour}" data-from="{start}" data-to="{end}" d="{d}"/>'


def _seg(c1x: float, c1y: float, c2x: float, c2y: float, x: float, y: float) -> str:
    return f"C{num(c1x)} {num(c1y)} {num(c2x)} {num(c2y)} {num(x)} {num(y)}"


def _y_of(i: int, k: int) -> float:
    return _YT + (i + 0.5) * (_YB - _YT) / k


class TangledLines(Kind):
    name = "tangled_lines"
    dimension = "visual_tracking"
    css: ClassVar[str] = (
        ".tl{fill:none;stroke:#333;stroke-linecap:round}.tk{fill:none;stroke-linecap:round}"
        ".lm{fill:#fff;stroke:#222;stroke-width:.4}.ll{font-size:4.2px;font-weight:700;"
        "text-anchor:middle}.mp{font-size:4.2px}"
    )

    def size_of(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(number of lines, Bézier segments per line)."""
        return ramp(spec.level, spec.age, 3, 8), ramp(spec.level, spec.age, 2, 5)

    def _data(self, spec: ExerciseSpec) -> _Data:
        k, segs = self.size_of(spec)
        rng = random.Random(spec.seed)
        ends = list(range(k))
        for _ in range(8):  # avoid many lines that simply run straight across
            rng.shuffle(ends)
            if sum(1 for i, e in enumerate(ends) if i == e) <= k // 3:
                break
        # At every bend column the lines take distinct height slots (a shuffled
        # permutation), so two lines never touch there and crossings between
        # columns are clear X shapes rather than ambiguous kisses.
        slots = []
        for _ in range(1, segs):
            column = list(range(k))
            rng.shuffle(column)
            slots.append(column)
        span = (_YB - _YT) / k
        paths = []
        for i in range(k):
            pts = [(_XS + 4.5, _y_of(i, k))]
            for j in range(1, segs):
                x = _XS + 4.5 + j * (_XE - _XS - 9.0) / segs + rng.uniform(-8.0, 8.0)
                y = _YT + (slots[j - 1][i] + 0.5 + rng.uniform(-0.2, 0.2)) * span
                pts.append((x, y))
            pts.append((_XE - 4.5, _y_of(ends[i], k)))
            paths.append(self._smooth(pts))
        return _Data(tuple(ends), tuple(paths))

    @staticmethod
    def _smooth(pts: list[tuple[float, float]]) -> str:
        """Catmull-Rom through the points as cubic Béziers, clamped to the body."""
        out = [f"M{num(pts[0][0])} {num(pts[0][1])}"]
        ext = [pts[0], *pts, pts[-1]]
        for j in range(1, len(ext) - 2):
            p0, p1, p2, p3 = ext[j - 1], ext[j], ext[j + 1], ext[j + 2]
            c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
            c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
            c1 = (c1[0], min(max(c1[1], 64.0), 282.0))
            c2 = (c2[0], min(max(c2[1], 64.0), 282.0))
            out.append(_seg(c1[0], c1[1], c2[0], c2[1], p2[0], p2[1]))
        return "".join(out)

    @staticmethod
    def labels(spec: ExerciseSpec) -> str:
        """What the right-hand ends are marked with: letters, or shapes on young Chinese sheets."""
        return _SHAPES if spec.lang == "zh" and spec.age < LATIN_ON_ZH_FROM else _LETTERS

    def _markers(self, k: int, labels: str) -> str:
        out = ['<g class="lm">']
        for i in range(k):
            y = num(_y_of(i, k))
            out.append(
                f'<circle cx="{_XS}" cy="{y}" r="4.5"/><circle cx="{_XE}" cy="{y}" r="4.5"/>'
            )
        out.append('</g><g class="ll">')
        for i in range(k):
            y = num(_y_of(i, k) + 1.5)
            out.append(f'<text x="{_XS}" y="{y}" data-start="{i + 1}">{i + 1}</text>')
            out.append(f'<text x="{_XE}" y="{y}" data-end="{labels[i]}">{labels[i]}</text>')
        out.append("</g>")
        return "".join(out)

    def _stroke(self, spec: ExerciseSpec) -> float:
        return round(1.0 - 0.05 * (spec.level - 1), 2)

    def _path_max(self, segs: int) -> int:
        return len("M888.8 888.8") + segs * widest(_seg, *([888.8] * 6))

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        k, segs = self.size_of(spec)
        fixed = blen(self._markers(k, self.labels(spec))) + len(
            f'<g class="tl" stroke-width="{self._stroke(spec)}">'
        )
        return fixed + len("</g>") + k * (widest(_path, "") + self._path_max(segs))

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        k = len(data.ends)
        out = [f'<g class="tl" stroke-width="{self._stroke(spec)}">']
        out.extend(_path(d) for d in data.paths)
        out.append("</g>")
        out.append(self._markers(k, self.labels(spec)))
        return "".join(out)

    def _mapping(self, spec: ExerciseSpec, i: int, end: int) -> str:
        return f"{i + 1}→{self.labels(spec)[end]}"

    def _key_bound(self, spec: ExerciseSpec) -> int:
        k, segs = self.size_of(spec)
        fixed = blen(self._markers(k, self.labels(spec))) + len(
            '<g class="tk" stroke-width="1.2"></g>'
        )
        label = max(self.labels(spec), key=blen)
        item = widest(_key_path, "#d62728", 9, label, "") + self._path_max(segs)
        mapping = len('<text x="15" y="282" class="mp" data-role="mapping"></text>')
        sep = blen(text(spec.lang, "kind.tangled_lines.pair_sep"))
        widest_end = max(range(k), key=lambda e: blen(self.labels(spec)[e]))
        mapping += k * blen(self._mapping(spec, k - 1, widest_end)) + max(k - 1, 0) * sep
        return fixed + k * item + mapping

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        k = len(data.ends)
        out = ['<g class="tk" stroke-width="1.2">']
        for i, (end, d) in enumerate(zip(data.ends, data.paths, strict=True)):
            out.append(_key_path(_PALETTE[i], i + 1, self.labels(spec)[end], d))
        out.append("</g>")
        out.append(self._markers(k, self.labels(spec)))
        sep = text(spec.lang, "kind.tangled_lines.pair_sep")
        pairs = sep.join(self._mapping(spec, i, e) for i, e in enumerate(data.ends))
        out.append(f'<text x="15" y="282" class="mp" data-role="mapping">{pairs}</text>')
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 2 + self.size_of(spec)[0] // 3

    def instructions(self, spec: ExerciseSpec) -> str:
        if spec.age > YOUNG_MAX_AGE and self.labels(spec) == _SHAPES:
            return text(spec.lang, "kind.tangled_lines.instructions_shapes")
        return self.young_text(spec, "instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.tangled_lines.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.tangled_lines.key_note")
