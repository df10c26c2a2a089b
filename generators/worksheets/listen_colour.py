"""Colour by instruction (听指令涂色, auditory attention): listen, then colour.

The child's sheet is rows of outlined shapes, each row numbered. The teacher
reads instructions one at a time ("colour the triangles in row 2 red",
"colour every circle blue", "colour the 3rd shape in row 1 green"), each
only once; the child colours with crayons. The teacher's page (the key)
holds the instructions to read and the finished picture, with the colour's
name written in every shape, so the key reads on a black-and-white print
too; the child's sheet has no colour at all.

Strategy: rows, columns and the number of instructions follow from (level,
age). Instructions are drawn so that each colours at least one shape and no
shape twice; each is a ``<text data-rule="shape,row,col" data-colour>``
(``-1`` for "any"), and the coloured shapes carry ``data-cell`` and
``data-colour``, so a test applies the rules to the sheet and compares.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, shape_name, widest

_COLOURS = ("red", "yellow", "blue", "green")
_TOP = 70.0
_X0, _W = 28.0, 164.0
_SHEET_GRID_H = 205.0  # the child's sheet: the grid fills the page body
_GRID_H = 120.0  # the key: a shorter grid, the instructions to read below it

Rule = tuple[int, int, int, int]  # (shape or -1, row or -1, col or -1, colour)


@dataclass(frozen=True, slots=True)
class _Data:
    cells: tuple[int, ...]  # shape per cell, row-major
    rules: tuple[Rule, ...]


def _cell(x: float, y: float, r: int, c: int, shape: int) -> str:
    return (
        f'<use href="#c{shape}" x="{num(x)}" y="{num(y)}" class="co" '
        f'data-cell="{r},{c}" data-shape="{shape}"/>'
    )


def _mark(x: float, y: float, r: int, c: int, colour: int, label: str) -> str:
    return (
        f'<text x="{num(x)}" y="{num(y + 1.2)}" class="cm" data-cell="{r},{c}" '
        f'data-colour="{_COLOURS[colour]}">{label}</text>'
    )


def _selects(rule: Rule, r: int, c: int, shape: int) -> bool:
    s, row, col, _ = rule
    return (s < 0 or s == shape) and (row < 0 or row == r) and (col < 0 or col == c)


class ListenColour(Kind):
    name = "listen_colour"
    dimension = "auditory"
    css: ClassVar[str] = (
        ".co{fill:#fff;stroke:#222;stroke-width:.6}.cn{font-size:4.2px;font-weight:700}"
        ".cm{font-size:3.4px;font-weight:700;text-anchor:middle}.cr{font-size:3.8px}"
    )

    def shape(self, spec: ExerciseSpec) -> tuple[int, int, int]:
        """(rows, columns, instructions)."""
        rows = ramp(spec.level, spec.age, 3, 5)
        cols = ramp(spec.level, spec.age, 4, 7)
        return rows, cols, ramp(spec.level, spec.age, 3, 8)

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        rows, cols, n = self.shape(spec)
        shapes = 3 if spec.age < 6 else 4 if spec.level <= 3 else 6
        while True:
            cells = [rng.randrange(shapes) for _ in range(rows * cols)]
            rules = self._rules(rng, spec, cells, n, shapes)
            if rules is not None:
                return _Data(tuple(cells), rules)

    def _rules(
        self, rng: random.Random, spec: ExerciseSpec, cells: list[int], n: int, shapes: int
    ) -> tuple[Rule, ...] | None:
        """``n`` rules, each colouring at least one free shape and none already coloured."""
        rows, cols, _ = self.shape(spec)
        free = set(range(rows * cols))
        out: list[Rule] = []
        for _ in range(200):
            if len(out) == n:
                return tuple(out)
            form = rng.randrange(3 if spec.age >= 6 else 2)
            colour = rng.randrange(len(_COLOURS))
            if form == 0:  # every shape of a kind in one row
                rule = (rng.randrange(shapes), rng.randrange(rows), -1, colour)
            elif form == 1 and spec.level >= 5:  # every shape of a kind, everywhere
                rule = (rng.randrange(shapes), -1, -1, colour)
            else:  # one shape by row and position
                rule = (-1, rng.randrange(rows), rng.randrange(cols), colour)
            hit = {i for i in range(rows * cols) if _selects(rule, *divmod(i, cols), cells[i])}
            if hit and hit <= free:
                free -= hit
                out.append(rule)
        return None

    # -- drawing -------------------------------------------------------------

    def _xy(
        self, spec: ExerciseSpec, r: int, c: int, height: float = _GRID_H
    ) -> tuple[float, float]:
        rows, cols, _ = self.shape(spec)
        return _X0 + (c + 0.5) * _W / cols, _TOP + (r + 0.5) * height / rows

    def _numbers(self, spec: ExerciseSpec, height: float) -> str:
        rows, _, _ = self.shape(spec)
        label = section(spec.lang, "kind.listen_colour")["row"]
        out = [shape_defs(6.5, "c")]
        for r in range(rows):
            _, y = self._xy(spec, r, 0, height)
            out.append(f'<text x="15" y="{num(y + 1.5)}" class="cn">{label.format(n=r + 1)}</text>')
        return "".join(out)

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        rows, cols, _ = self.shape(spec)
        numbers = max(blen(self._numbers(spec, h)) for h in (_SHEET_GRID_H, _GRID_H))
        return numbers + rows * cols * widest(_cell, 888.8, 888.8, 9, 9, 9)

    def _sheet_body(self, spec: ExerciseSpec, data: _Data, height: float = _SHEET_GRID_H) -> str:
        _, cols, _ = self.shape(spec)
        out = [self._numbers(spec, height)]
        for i, shape in enumerate(data.cells):
            r, c = divmod(i, cols)
            out.append(_cell(*self._xy(spec, r, c, height), r, c, shape))
        return "".join(out)

    def rule_text(self, spec: ExerciseSpec, rule: Rule) -> str:
        """The instruction as the teacher reads it."""
        s, row, col, colour = rule
        t = section(spec.lang, "kind.listen_colour")
        colour_name = t[f"colour_{_COLOURS[colour]}"]
        if col >= 0:
            return t["rule_cell"].format(row=row + 1, col=col + 1, colour=colour_name)
        shape = shape_name(s, spec.lang)
        if row >= 0:
            return t["rule_row"].format(row=row + 1, shape=shape, colour=colour_name)
        return t["rule_all"].format(shape=shape, colour=colour_name)

    def _rule_line(self, spec: ExerciseSpec, i: int, rule: Rule, words: str) -> str:
        s, row, col, colour = rule
        y = _TOP + _GRID_H + 12 + i * 8.5
        return (
            f'<text x="20" y="{num(y)}" class="cr" data-rule="{s},{row},{col}" '
            f'data-colour="{_COLOURS[colour]}">{i + 1}. {words}</text>'
        )

    def _widest_rule(self, spec: ExerciseSpec) -> int:
        candidates = [(-1, 8, 8)] + [(s, row, -1) for s in range(8) for row in (-1, 8)]
        widest_words = max(
            (
                self.rule_text(spec, (s, row, col, colour))
                for s, row, col in candidates
                for colour in range(len(_COLOURS))
            ),
            key=blen,
        )
        return widest(self._rule_line, spec, 9, (-1, -1, -1, 1), widest_words)

    def _key_bound(self, spec: ExerciseSpec) -> int:
        rows, cols, n = self.shape(spec)
        longest = max(blen(section(spec.lang, "kind.listen_colour")[f"mark_{c}"]) for c in _COLOURS)
        mark = widest(_mark, 888.8, 888.8, 9, 9, 1, "") + longest
        return self._sheet_bound(spec) + n * self._widest_rule(spec) + rows * cols * mark

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        _, cols, _ = self.shape(spec)
        t = section(spec.lang, "kind.listen_colour")
        out = [self._sheet_body(spec, data, _GRID_H)]
        for i, rule in enumerate(data.rules):
            out.append(self._rule_line(spec, i, rule, self.rule_text(spec, rule)))
        for i, shape in enumerate(data.cells):
            r, c = divmod(i, cols)
            for rule in data.rules:
                if _selects(rule, r, c, shape):
                    label = t[f"mark_{_COLOURS[rule[3]]}"]
                    out.append(_mark(*self._xy(spec, r, c), r, c, rule[3], label))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 3 + self.shape(spec)[2] // 2

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.listen_colour.instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.listen_colour.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.listen_colour.key_note")
