"""Trail making (attention shifting): connect scattered circles in a fixed order.

Variants:
- ``numbers``: 1 -> 2 -> ... -> N (N from 8 up to 25 with level and age);
- ``letters``: numbers and letters alternate, 1 -> A -> 2 -> B -> ...;
- ``colors``: each number appears twice, in a red and a blue circle; the path
  goes up the numbers alternating colours (1 red, 2 blue, 3 red ...), so the
  same number in the other colour is a distractor (colour-trails style, no
  reading needed).

Strategy: circles sit in distinct cells of a fixed 5 x 6 lattice, jittered
inside their cell, so they never overlap and placement costs O(N). The visiting
order is deterministic from the parameters; only positions are random, so the
key note ("1 -> A -> 2 ...") is part of the frame and every drawn item has a
fixed maximum width.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class _Node:
    label: str
    colour: str  # "n" plain, "nr" red, "nb" blue (CSS class of the circle)
    step: int  # 1-based position on the trail, 0 for a distractor


@dataclass(frozen=True, slots=True)
class _Data:
    nodes: tuple[_Node, ...]
    xy: tuple[tuple[float, float], ...]


def _node(x: float, y: float, r: float, cls: str, label: str, fs: float) -> str:
    return (
        f'<circle cx="{num(x)}" cy="{num(y)}" r="{r}" class="{cls}"/>'
        f'<text x="{num(x)}" y="{num(y + fs * 0.36)}">{label}</text>'
    )


def _key_node(x: float, y: float, r: float, cls: str, label: str, fs: float, step: int) -> str:
    return (
        f'<circle cx="{num(x)}" cy="{num(y)}" r="{r}" class="{cls}"/>'
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
        ".tm{text-anchor:middle;font-weight:700}.tm circle{stroke:#222;stroke-width:.45}"
        ".n{fill:#fff}.nr{fill:#f5b5b5}.nb{fill:#b0cbf2}.tg{font-size:3.2px;fill:#c0392b;"
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
        cells = self._tour(spec, rng, rng.sample(range(_GX * _GY), len(nodes)), nodes)
        m = r + 1.5
        xy = []
        for cell in cells:
            row, col = divmod(cell, _GX)
            x = _X0 + col * _CW + rng.uniform(m, _CW - m)
            y = _Y0 + row * _CH + rng.uniform(m, _CH - m - 3.5)  # room for a tag below
            xy.append((x, y))
        return _Data(nodes, tuple(xy))

    @staticmethod
    def _tour(
        spec: ExerciseSpec, rng: random.Random, cells: list[int], nodes: tuple[_Node, ...]
    ) -> list[int]:
        """Order the trail's cells so the next circle is usually near the last one.

        At low levels almost every step goes to one of the two nearest free
        cells (a short, rarely crossing trail, as on printed trail tests); at
        higher levels more steps jump anywhere, so the child has to search.
        Distractor circles keep the remaining cells.
        """
        n_path = sum(1 for n in nodes if n.step)
        local = 1.0 - 0.08 * (spec.level - 1)
        free = cells[1:n_path]
        order = [cells[0]]
        while free:
            gy, gx = divmod(order[-1], _GX)
            free.sort(key=lambda c: ((c // _GX - gy) ** 2 + (c % _GX - gx) ** 2, c))
            pick = (
                rng.randrange(min(2, len(free)))
                if rng.random() < local
                else rng.randrange(len(free))
            )
            order.append(free.pop(pick))
        return order + cells[n_path:]

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
        item = widest(_node, 888.8, 888.8, r, "nr", wide, fs)
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
        item = widest(_key_node, 888.8, 888.8, r, "nr", wide, fs, 99)
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
        return text(spec.lang, "kind.trail_making.key_note", order=self._sequence(spec))
