"""Grid mazes (visual tracking) with the solution drawn on the key.

Strategy: a perfect maze (exactly one route between any two cells) from an
iterative randomized depth-first search (recursive backtracker) seeded by the
spec; the route from the entrance on the top row to the exit on the bottom row
is the unique tree path, found by breadth-first search.

A perfect maze on R x C cells always opens exactly R*C - 1 inner walls, so the
number of wall segments drawn is fixed by the size alone: the sheet's bound is
exact up to coordinate widths. Walls are one ``<path>`` of absolute
``M x y H x`` / ``M x y V y`` segments inside ``<g data-maze="R,C" data-x0
data-y0 data-cell>``, and the key's route is ``M x y`` followed by relative
``h``/``v`` runs, so tools and tests can rebuild the grid from the SVG.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, widest

_Y0 = 68.0
_AREA_W, _AREA_H = 176.0, 206.0


@dataclass(frozen=True, slots=True)
class _Shape:
    rows: int
    cols: int
    cell: float
    x0: float
    y0: float


@dataclass(frozen=True, slots=True)
class _Data:
    east: tuple[bool, ...]  # east[i]: passage between cell i and its right neighbour
    south: tuple[bool, ...]  # south[i]: passage between cell i and the cell below
    start: int  # column of the entrance (top row)
    exit: int  # column of the exit (bottom row)
    route: tuple[int, ...]  # cell indices from entrance to exit


def _wall_h(x: float, y: float, x2: float) -> str:
    return f"M{num(x)} {num(y)}H{num(x2)}"


def _wall_v(x: float, y: float, y2: float) -> str:
    return f"M{num(x)} {num(y)}V{num(y2)}"


def _mark(x: float, y: float, role: str, r: int, c: int, text: str) -> str:
    return (
        f'<text x="{num(x)}" y="{num(y)}" class="mk" data-role="{role}" '
        f'data-cell="{r},{c}">{text}</text>'
    )


def carve(rows: int, cols: int, rng: random.Random) -> tuple[list[bool], list[bool]]:
    """Randomized depth-first search; returns (east, south) passage flags."""
    n = rows * cols
    east = [False] * n
    south = [False] * n
    seen = [False] * n
    start = rng.randrange(n)
    seen[start] = True
    stack = [start]
    while stack:
        i = stack[-1]
        r, c = divmod(i, cols)
        options = []
        if c + 1 < cols and not seen[i + 1]:
            options.append(i + 1)
        if c > 0 and not seen[i - 1]:
            options.append(i - 1)
        if r + 1 < rows and not seen[i + cols]:
            options.append(i + cols)
        if r > 0 and not seen[i - cols]:
            options.append(i - cols)
        if not options:
            stack.pop()
            continue
        j = options[rng.randrange(len(options))]
        a, b = min(i, j), max(i, j)
        if b == a + 1:
            east[a] = True
        else:
            south[a] = True
        seen[j] = True
        stack.append(j)
    return east, south


def solve(rows: int, cols: int, east: list[bool], south: list[bool], a: int, b: int) -> list[int]:
    """Breadth-first search from cell a to cell b through open passages."""
    prev = [-1] * (rows * cols)
    prev[a] = a
    queue = deque([a])
    while queue:
        i = queue.popleft()
        if i == b:
            break
        c = i % cols
        steps = []
        if c + 1 < cols and east[i]:
            steps.append(i + 1)
        if c > 0 and east[i - 1]:
            steps.append(i - 1)
        if i + cols < rows * cols and south[i]:
            steps.append(i + cols)
        if i >= cols and south[i - cols]:
            steps.append(i - cols)
        for j in steps:
            if prev[j] < 0:
                prev[j] = i
                queue.append(j)
    route = [b]
    while route[-1] != a:
        route.append(prev[route[-1]])
    return route[::-1]


class Maze(Kind):
    name = "maze"
    dimension = "visual_tracking"
    css: ClassVar[str] = (
        ".mw{fill:none;stroke:#222;stroke-linecap:square}"
        ".ms{fill:none;stroke:#d62728;stroke-linejoin:round;stroke-opacity:.8}"
        ".mk{font-size:3.6px;fill:#c0392b;font-weight:700;text-anchor:middle}"
    )

    def shape(self, spec: ExerciseSpec) -> _Shape:
        cols = ramp(spec.level, spec.age, 5, 20)
        rows = round(cols * 1.2)
        cell = int(min(_AREA_W / cols, _AREA_H / rows) * 10) / 10
        x0 = round(105.0 - cols * cell / 2, 1)
        return _Shape(rows, cols, cell, x0, _Y0)

    def _data(self, spec: ExerciseSpec) -> _Data:
        s = self.shape(spec)
        rng = random.Random(spec.seed)
        east, south = carve(s.rows, s.cols, rng)
        start = rng.randrange(s.cols)
        exit_ = rng.randrange(s.cols)
        route = solve(s.rows, s.cols, east, south, start, (s.rows - 1) * s.cols + exit_)
        return _Data(tuple(east), tuple(south), start, exit_, tuple(route))

    # -- drawing -------------------------------------------------------------

    def _open(self, s: _Shape) -> str:
        width = 0.9 if s.cell >= 12 else 0.7 if s.cell >= 8 else 0.5
        return (
            f'<g data-maze="{s.rows},{s.cols}" data-x0="{s.x0}" data-y0="{s.y0}" '
            f'data-cell="{s.cell}"><path class="mw" stroke-width="{width}" data-role="walls" d="'
        )

    @staticmethod
    def _wall_count(s: _Shape) -> int:
        inner = s.rows * (s.cols - 1) + s.cols * (s.rows - 1) - (s.rows * s.cols - 1)
        return inner + 2 * s.cols - 2 + 2 * s.rows

    def _labels(self, spec: ExerciseSpec) -> tuple[str, str]:
        t = section(spec.lang, "kind.maze")
        return t["entrance"], t["exit"]

    def _walls(self, s: _Shape, d: _Data) -> str:
        x0, y0, cell = s.x0, s.y0, s.cell
        out = []
        bottom = y0 + s.rows * cell
        right = x0 + s.cols * cell
        for c in range(s.cols):
            x = x0 + c * cell
            if c != d.start:
                out.append(_wall_h(x, y0, x + cell))
            if c != d.exit:
                out.append(_wall_h(x, bottom, x + cell))
        for r in range(s.rows):
            y = y0 + r * cell
            out.append(_wall_v(x0, y, y + cell))
            out.append(_wall_v(right, y, y + cell))
            for c in range(s.cols):
                i = r * s.cols + c
                x = x0 + c * cell
                if c + 1 < s.cols and not d.east[i]:
                    out.append(_wall_v(x + cell, y, y + cell))
                if r + 1 < s.rows and not d.south[i]:
                    out.append(_wall_h(x, y + cell, x + cell))
        return "".join(out)

    def _marks(self, spec: ExerciseSpec, s: _Shape, d: _Data) -> str:
        begin, end = self._labels(spec)
        xs = s.x0 + (d.start + 0.5) * s.cell
        xe = s.x0 + (d.exit + 0.5) * s.cell
        return _mark(xs, s.y0 - 1.5, "start", 0, d.start, begin) + _mark(
            xe, s.y0 + s.rows * s.cell + 4.5, "exit", s.rows - 1, d.exit, end
        )

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        s = self.shape(spec)
        walls = self._wall_count(s) * widest(_wall_h, 888.8, 888.8, 888.8)
        begin, end = self._labels(spec)
        marks = widest(_mark, 888.8, 888.8, "start", 99, 99, begin)
        marks += widest(_mark, 888.8, 888.8, "exit", 99, 99, end)
        return blen(self._open(s)) + len('"/></g>') + walls + marks

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        s = self.shape(spec)
        return self._open(s) + self._walls(s, data) + '"/></g>' + self._marks(spec, s, data)

    def _route_open(self, s: _Shape) -> str:
        """The route is drawn in cell units (scaled by the cell size): runs print as
        small integers ("h3v-2"), which keeps the route's bound tight."""
        return (
            f'<path class="ms" data-role="solution" stroke-width="{round(1.0 / s.cell, 3)}" '
            f'transform="translate({s.x0} {s.y0}) scale({s.cell})" d="'
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        s = self.shape(spec)
        head = blen(self._route_open(s)) + len("M99.5 99.5") + len('"/>')
        return self._sheet_bound(spec) + head + s.rows * s.cols * len("h-99")

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        s = self.shape(spec)
        cols = s.cols
        first = data.route[0]
        d = [self._route_open(s), f"M{first % cols}.5 {first // cols}.5"]
        # One "h"/"v" per straight run of moves, in cells.
        run_dir, run_len = "", 0
        for a, b in zip(data.route, data.route[1:], strict=False):
            step = b - a
            direction = ("h" if abs(step) == 1 else "v") + ("" if step > 0 else "-")
            if direction == run_dir:
                run_len += 1
                continue
            if run_len:
                d.append(f"{run_dir}{run_len}")
            run_dir, run_len = direction, 1
        if run_len:
            d.append(f"{run_dir}{run_len}")
        d.append('"/>')
        return self._sheet_body(spec, data) + "".join(d)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 2 + self.shape(spec).cols // 5

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.maze.instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.maze.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.maze.key_note")
