"""Schulte tables (attention span) and red-black Gorbov tables (shifting).

Both are an n x n grid holding a shuffled sequence that the child finds in
order. Strategy: the shuffle is the only random choice (``_data``); every cell
is one ``<text>`` with coordinates from ``num`` and a label from a fixed table
(a red-black red cell adds one filled ``<rect>``: white on red survives a
black-and-white printer, red against black does not), so the body bound is the
grid frame (exactly measured) plus n*n times the widest cell. The key repeats
the grid small, prints each cell's step number in its corner and lists
"label -> (row, column)" for every step.

Grid size grows with level (3x3 to 7x7) and starts a little larger for older
children (see ``page.ramp``). The letters variant stops at 5x5 (26 letters).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.norms import schulte_seconds
from generators.texts import section, text

from .base import ExerciseSpec
from .page import BODY_BOTTOM, Kind, ramp
from .svg import blen, num, text_em, widest

_CN_DIGITS = "一二三四五六七八九"


def hanzi_numeral(i: int) -> str:
    """1..99 as Chinese numerals: 一, 十, 十一, 二十, 四十九."""
    tens, ones = divmod(i, 10)
    if tens == 0:
        return _CN_DIGITS[ones - 1]
    head = "十" if tens == 1 else _CN_DIGITS[tens - 1] + "十"
    return head + (_CN_DIGITS[ones - 1] if ones else "")


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HANZI = tuple(hanzi_numeral(i) for i in range(1, 50))


@dataclass(frozen=True, slots=True)
class _Grid:
    n: int
    labels: tuple[str, ...]  # what is written, in the order it must be found
    colours: tuple[str, ...]  # per label: "" (plain), "r" or "b" (red-black)
    order: tuple[int, ...]  # label indices in the order the child visits them


@dataclass(frozen=True, slots=True)
class _Data:
    grid: _Grid
    cells: tuple[int, ...]  # cells[row * n + col] = label index


# Geometry of the sheet grid and the key's small grid (mm).
_SIDE, _X0, _Y0 = 170.0, 20.0, 66.0
_KSIDE, _KX0, _KY0 = 110.0, 50.0, 63.0
_TABLE_TOP = 182.0


def _cell(x: float, y: float, r: int, c: int, cls: str, label: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-cell="{r},{c}"{cls}>{label}</text>'


def _cell_bg(x: float, y: float, side: float) -> str:
    """The red cell behind a red number: white on red, so it stays dark on a grey printer."""
    return f'<rect x="{num(x)}" y="{num(y)}" width="{side}" height="{side}" class="rc"/>'


def _order_tag(x: float, y: float, step: int, on_red: bool) -> str:
    """A cell's place in the visiting order, small in its top-left corner (keys only)."""
    cls = ' class="ow"' if on_red else ""
    return f'<text x="{num(x)}" y="{num(y)}" data-order="{step}"{cls}>{step}</text>'


def _entry(x: float, y: float, step: int, r: int, c: int, text: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-step="{step}" data-cell="{r},{c}">{text}</text>'


def _grid_lines(n: int, x0: float, y0: float, side: float, cls: str) -> str:
    step = side / n
    d = []
    for i in range(n + 1):
        d.append(f"M{num(x0)} {num(y0 + i * step)}H{num(x0 + side)}")
        d.append(f"M{num(x0 + i * step)} {num(y0)}V{num(y0 + side)}")
    return f'<path class="{cls}" d="{"".join(d)}"/>'


class _TableKind(Kind):
    """Shared drawing of a shuffled n x n table and its visiting-order key."""

    css: ClassVar[str] = (
        ".g{fill:none;stroke:#333;stroke-width:.5}.g2{fill:none;stroke:#999;stroke-width:.3}"
        ".r{fill:#fff}.rc{fill:#c62828}.b{fill:#222}.ko{font-size:3px;fill:#1f5fbf;font-weight:700}"
        ".ko .ow{fill:#fff}.kt{font-size:3.2px}.sg{text-anchor:middle}"
    )

    def _grid(self, spec: ExerciseSpec) -> _Grid:
        raise NotImplementedError

    def _entry_text(self, grid: _Grid, label: int, r: int, c: int, lang: str) -> str:
        return f"{grid.labels[label]}→({r + 1},{c + 1})"

    def _widest_entry(self, grid: _Grid, lang: str) -> str:
        return max((self._entry_text(grid, i, 6, 6, lang) for i in grid.order), key=blen)

    def _data(self, spec: ExerciseSpec) -> _Data:
        grid = self._grid(spec)
        cells = list(range(grid.n * grid.n))
        random.Random(spec.seed).shuffle(cells)
        return _Data(grid, tuple(cells))

    @staticmethod
    def _font(grid: _Grid, cell: float) -> float:
        """Largest font at which the widest label (e.g. 四十九, 3 em) fills 3/4 of a cell."""
        ems = max(text_em(s) for s in grid.labels)
        return round(min(cell * 0.45, cell * 0.75 / max(ems, 1.0)), 1)

    def _cls(self, grid: _Grid, label: int) -> str:
        col = grid.colours[label]
        return f' class="{col}"' if col else ""

    @staticmethod
    def _bg(grid: _Grid, label: int, x0: float, y0: float, cell: float) -> str:
        """A red label's cell fill (inset a little inside the grid lines), else nothing.

        Red against black is lost on a black-and-white printer; white on a
        filled cell against black on white is not.
        """
        if grid.colours[label] != "r":
            return ""
        inset = round(cell * 0.04, 1)
        return _cell_bg(x0 + inset, y0 + inset, round(cell - 2 * inset, 1))

    @staticmethod
    def _bg_bound(grid: _Grid, cell: float) -> int:
        """Bytes a cell's fill can add: the widest rect when the table has red cells."""
        if "r" not in grid.colours:
            return 0
        return widest(_cell_bg, 888.8, 888.8, round(cell - 2 * round(cell * 0.04, 1), 1))

    # -- sheet ---------------------------------------------------------------

    def _sheet_fixed(self, spec: ExerciseSpec, grid: _Grid) -> tuple[str, str]:
        n = grid.n
        cell = _SIDE / n
        fs = self._font(grid, cell)
        head = _grid_lines(n, _X0, _Y0, _SIDE, "g") + f'<g class="sg" font-size="{fs}">'
        rec = section(spec.lang, "kind.schulte")["try"]
        y = BODY_BOTTOM - 20.0
        tail = "</g>" + "".join(
            f'<text x="{20 + 60 * i}" y="{y}" class="i">{rec.format(i=i + 1)}</text>'
            for i in range(3)
        )
        return head, tail

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        grid = self._grid(spec)
        head, tail = self._sheet_fixed(spec, grid)
        wide = max(grid.labels, key=blen)
        item = widest(_cell, 888.8, 888.8, 9, 9, self._cls(grid, 0), wide)
        item += self._bg_bound(grid, _SIDE / grid.n)
        return blen(head + tail) + grid.n * grid.n * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        grid = data.grid
        n = grid.n
        cell = _SIDE / n
        fs = self._font(grid, cell)
        head, tail = self._sheet_fixed(spec, grid)
        out = [head]
        for i, label in enumerate(data.cells):
            r, c = divmod(i, n)
            x = _X0 + (c + 0.5) * cell
            y = _Y0 + (r + 0.5) * cell + fs * 0.36
            out.append(self._bg(grid, label, _X0 + c * cell, _Y0 + r * cell, cell))
            out.append(_cell(x, y, r, c, self._cls(grid, label), grid.labels[label]))
        out.append(tail)
        return "".join(out)

    # -- key -----------------------------------------------------------------

    def _key_fixed(self, grid: _Grid) -> tuple[str, str, str]:
        fs = self._font(grid, _KSIDE / grid.n)
        head = _grid_lines(grid.n, _KX0, _KY0, _KSIDE, "g2") + f'<g class="sg" font-size="{fs}">'
        return head, '</g><g class="ko">', '</g><g class="kt">'

    def _key_bound(self, spec: ExerciseSpec) -> int:
        grid = self._grid(spec)
        fixed = blen("".join(self._key_fixed(grid))) + len("</g>")
        nn = grid.n * grid.n
        wide = max(grid.labels, key=blen)
        item = widest(_cell, 888.8, 888.8, 9, 9, self._cls(grid, 0), wide)
        item += self._bg_bound(grid, _KSIDE / grid.n)
        order = widest(_order_tag, 888.8, 888.8, nn, "r" in grid.colours)
        entry = widest(_entry, 888.8, 888.8, 99, 9, 9, self._widest_entry(grid, spec.lang))
        return fixed + nn * (item + order + entry)

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        """The table small, each cell's step in its corner, then the step list.

        A line joining dozens of cells in order hides the numbers it is meant
        to explain; a small step number in each cell's corner reads at once.
        """
        grid = data.grid
        n = grid.n
        cell = _KSIDE / n
        fs = self._font(grid, cell)
        head, orders, table = self._key_fixed(grid)
        where = [0] * len(data.cells)  # label index -> cell index
        for i, label in enumerate(data.cells):
            where[label] = i
        out = [head]
        for i, label in enumerate(data.cells):
            r, c = divmod(i, n)
            x = _KX0 + (c + 0.5) * cell
            y = _KY0 + (r + 0.5) * cell + fs * 0.36
            out.append(self._bg(grid, label, _KX0 + c * cell, _KY0 + r * cell, cell))
            out.append(_cell(x, y, r, c, self._cls(grid, label), grid.labels[label]))
        out.append(orders)
        for step, label in enumerate(grid.order):
            r, c = divmod(where[label], n)
            x, y = _KX0 + c * cell + 1.3, _KY0 + r * cell + 3.8
            out.append(_order_tag(x, y, step + 1, grid.colours[label] == "r"))
        out.append(table)
        per_col = -(-len(grid.order) // 5) if n >= 6 else n
        cols = -(-len(grid.order) // per_col)
        dy = min(7.0, (BODY_BOTTOM - _TABLE_TOP) / per_col)
        for step, label in enumerate(grid.order):
            col, row = divmod(step, per_col)
            r, c = divmod(where[label], n)
            text = self._entry_text(grid, label, r, c, spec.lang)
            x = 20.0 + col * (170.0 / cols)
            out.append(_entry(x, _TABLE_TOP + row * dy, step + 1, r, c, text))
        out.append("</g>")
        return "".join(out)


class Schulte(_TableKind):
    """Schulte table: find 1..n*n (or A.., or 一..) in order, eyes on the centre."""

    name = "schulte"
    dimension = "span"
    variants = ("digits", "letters", "hanzi")
    variant_min_age: ClassVar[dict[str, int]] = {"letters": 6, "hanzi": 6}
    variant_langs: ClassVar[dict[str, tuple[str, ...]]] = {"hanzi": ("zh",)}
    latin_variants: ClassVar[frozenset[str]] = frozenset({"letters"})

    def default_variant(self, age: int, lang: str) -> str:
        return "digits"

    def size_n(self, spec: ExerciseSpec) -> int:
        """Grid side: 3x3 at 4-5, 4x4 at 6, 5x5 from 7 (the size the norms are for);
        one size larger from level 6 and again from level 9, up to 4x4 before 7,
        6x6 before 10 and 7x7 after. Letters stop at 5x5 (26 letters)."""
        age, level = spec.age, spec.level
        base = 3 if age <= 5 else 4 if age == 6 else 5
        top = 4 if age <= 6 else 6 if age <= 9 else 7
        n = min(top, base + (level >= 6) + (level >= 9))
        return min(n, 5) if self.variant_of(spec) == "letters" else n

    def limit_s(self, spec: ExerciseSpec) -> int:
        """Seconds for one table: a little over the typical time at this age and size."""
        typical = schulte_seconds(self.size_n(spec), spec.age)
        return max(15, 5 * round(typical * 1.15 / 5))

    def time_box(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "page.time_s", s=self.limit_s(spec))

    def _grid(self, spec: ExerciseSpec) -> _Grid:
        n = self.size_n(spec)
        v = self.variant_of(spec)
        nn = n * n
        if v == "letters":
            labels = tuple(_LETTERS[:nn])
        elif v == "hanzi":
            labels = _HANZI[:nn]
        else:
            labels = tuple(str(i) for i in range(1, nn + 1))
        return _Grid(n, labels, ("",) * nn, tuple(range(nn)))

    def minutes(self, spec: ExerciseSpec) -> int:
        """Three tables in a row at the time limit, as the lesson plan says."""
        return max(1, -(-3 * self.limit_s(spec) // 60))

    def instructions(self, spec: ExerciseSpec) -> str:
        labels = self._grid(spec).labels
        first, second, last = labels[0], labels[1], labels[-1]
        return text(spec.lang, "kind.schulte.instructions", first=first, second=second, last=last)

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.schulte.how_to_run", s=self.limit_s(spec))

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.schulte.key_note")


class RedBlack(_TableKind):
    """Gorbov red-black table: red ascending and black descending, alternating."""

    name = "schulte_redblack"
    dimension = "shifting"
    min_age = 7

    def size_n(self, spec: ExerciseSpec) -> int:
        return ramp(spec.level, spec.age, 4, 7)

    def _counts(self, spec: ExerciseSpec) -> tuple[int, int]:
        nn = self.size_n(spec) ** 2
        return (nn + 1) // 2, nn // 2

    def _grid(self, spec: ExerciseSpec) -> _Grid:
        n = self.size_n(spec)
        red, black = self._counts(spec)
        labels = tuple(str(i) for i in range(1, red + 1)) + tuple(
            str(i) for i in range(1, black + 1)
        )
        colours = ("r",) * red + ("b",) * black
        order: list[int] = []
        for i in range(red):
            order.append(i)  # red i+1, ascending
            if i < black:
                order.append(red + black - 1 - i)  # black black-i, descending
        return _Grid(n, labels, colours, tuple(order))

    def _entry_text(self, grid: _Grid, label: int, r: int, c: int, lang: str) -> str:
        t = section(lang, "kind.schulte_redblack")
        name = t["red"] if grid.colours[label] == "r" else t["black"]
        return f"{name}{grid.labels[label]}→({r + 1},{c + 1})"

    def minutes(self, spec: ExerciseSpec) -> int:
        return self.size_n(spec) - 1

    def instructions(self, spec: ExerciseSpec) -> str:
        red, black = self._counts(spec)
        return text(
            spec.lang,
            "kind.schulte_redblack.instructions",
            red=red,
            black=black,
            black_next=black - 1,
        )

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.schulte_redblack.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.schulte_redblack.key_note")
