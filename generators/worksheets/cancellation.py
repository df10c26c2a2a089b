"""Cancellation sheets: Bourdon-style digits/symbols (sustained) and look-alike
汉字 / letters (selective).

The child scans rows left to right and marks every item equal to a target
shown at the top. Strategy:

- ``_data`` draws the targets, then each row: a number of targets near a fixed
  mean (so the key's circles have a tight bound), the rest distractors, a
  share of them look-alikes of a target ("lures") that grows with level.
- Every grid item is one ``<text>`` (labels) or ``<use>`` (shapes) of known
  maximum width; rows are ``<g data-row="i">`` so tests and tools can read the
  sheet back. The key repeats the grid in grey, circles each target
  (``data-role="target"``) and writes the count per row and the total.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import plural, section, text

from .base import ExerciseSpec
from .page import LEFT, RIGHT, Kind, ramp
from .svg import blen, esc, num, shape_defs, use, widest

_TOP = 87.0  # first row's centre: well below the framed targets, never read as a row
_BOTTOM = 272.0  # last row's centre: the largest items end above the footer
_X0, _X1 = 28.0, 174.0  # first and last item centre
_BOX_X = 181.0


@dataclass(frozen=True, slots=True)
class _Params:
    rows: int
    cols: int
    per_row: int  # mean number of targets per row
    spread: int  # a row holds per_row +- spread targets
    n_targets: int  # distinct target items
    lure: float  # share of distractors that look like a target
    shapes: bool  # items are <use> shapes (ids "0".."7") rather than text
    print_cap: float = 9.0  # largest item size (mm): larger print for younger children


@dataclass(frozen=True, slots=True)
class _Data:
    targets: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def print_cap(age: int) -> float:
    """Largest item size (mm) for an age: young eyes and hands get larger print."""
    return 13.0 if age <= 6 else 11.0 if age <= 9 else 9.0


def _item_text(x: float, y: float, label: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}">{label}</text>'


def _sample_text(x: float, y: float, label: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" class="cs" data-role="target-sample">{label}</text>'


def _sample_shape(x: float, y: float, shape: str) -> str:
    return f'<use href="#s{shape}" x="{num(x)}" y="{num(y)}" data-role="target-sample"/>'


def _hit(x: float, y: float, r: int, c: int, rad: float) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="{rad}" data-role="target" data-cell="{r},{c}"/>'


def _count(x: float, y: float, row: int, n: int) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-row="{row}" data-count="{n}">{n}</text>'


class _CancelKind(Kind):
    """Shared engine; subclasses choose parameters and the pools of items."""

    css: ClassVar[str] = (
        ".gi{text-anchor:middle}.gs{fill:none;stroke:#222;stroke-width:.35}"
        ".rn{font-size:2.8px;fill:#888;text-anchor:end}.bx{fill:none;stroke:#888;stroke-width:.3}"
        ".cs{font-size:7px;font-weight:700}.kg{opacity:.45}.tf{fill:none;stroke:#888;stroke-width:.4}"
        ".hit{fill:none;stroke:#d62728;stroke-width:.5}.kc{font-size:3.6px;fill:#d62728;"
        "text-anchor:middle;font-weight:700}"
    )

    def params(self, spec: ExerciseSpec) -> _Params:
        raise NotImplementedError

    def _pools(
        self, spec: ExerciseSpec, rng: random.Random
    ) -> tuple[list[str], list[str], list[str]]:
        """(targets, lures, fillers) as labels, or shape ids for symbol sheets."""
        raise NotImplementedError

    def _widest_label(self, spec: ExerciseSpec) -> str:
        raise NotImplementedError

    def _data(self, spec: ExerciseSpec) -> _Data:
        p = self.params(spec)
        rng = random.Random(spec.seed)
        targets, lures, fillers = self._pools(spec, rng)
        rows = []
        for _ in range(p.rows):
            t = p.per_row + rng.randint(-p.spread, p.spread)
            hits = set(rng.sample(range(p.cols), t))
            row = []
            for c in range(p.cols):
                if c in hits:
                    row.append(rng.choice(targets))
                elif lures and (not fillers or rng.random() < p.lure):
                    row.append(rng.choice(lures))
                else:
                    row.append(rng.choice(fillers))
            rows.append(tuple(row))
        return _Data(tuple(targets), tuple(rows))

    # -- geometry ------------------------------------------------------------

    @staticmethod
    def _geometry(p: _Params) -> tuple[float, float, float]:
        """(column pitch, row pitch, item size) in mm; text is set a little smaller than
        shapes because wide letters (W, M) need room between neighbours.

        The rows always spread over the whole grid area, so a short sheet for a
        young child is larger print rather than a page two-thirds empty.
        """
        dx = (_X1 - _X0) / (p.cols - 1)
        dy = (_BOTTOM - _TOP) / max(p.rows - 1, 1)
        return dx, dy, round(min(dx * (0.78 if p.shapes else 0.66), dy * 0.72, p.print_cap), 1)

    def _fixed(self, spec: ExerciseSpec, p: _Params, key: bool) -> tuple[str, str, list[str]]:
        """Head (defs, sample label, group open), tail, and per-row open tags.

        Deterministic, so its bytes are measured exactly by the bound.
        """
        _, dy, size = self._geometry(p)
        label = plural(section(spec.lang, "cancel"), "targets", p.n_targets)
        frame_w = 24 + 12 * (p.n_targets - 1) + 10
        head = [
            shape_defs(round(size * 0.45, 2)) if p.shapes else "",
            f'<rect x="{LEFT - 2}" y="61.5" width="{frame_w}" height="12.5" rx="1.5" class="tf"/>',
            f'<text x="{LEFT}" y="69" class="i">{label}</text>',
            "<g>" if not p.shapes else '<g class="gs">',
        ]
        gcls = "gs" if p.shapes else "gi"
        grid_open = f'</g><g class="{gcls}{" kg" if key else ""}" font-size="{size}">'
        rows = []
        for r in range(p.rows):
            y = _TOP + r * dy
            rows.append(
                f'<text x="{LEFT + 6}" y="{num(y + 1)}" class="rn">{r + 1}</text>'
                f'<rect x="{_BOX_X}" y="{num(y - 3.5)}" width="{RIGHT - _BOX_X}" height="6" '
                f'class="bx"/><g data-row="{r}">'
            )
        tail = "</g>"
        return "".join(head) + grid_open, tail, rows

    def _sample(self, p: _Params, i: int, item: str) -> str:
        x = LEFT + 24 + 12 * i
        if p.shapes:
            return _sample_shape(x, 67.5, item)
        return _sample_text(x, 70.5, esc(item))

    def _item(self, p: _Params, x: float, y: float, size: float, item: str) -> str:
        if p.shapes:
            return use(int(item), x, y)
        return _item_text(x, y + size * 0.36, item)

    def _widest_item(self, spec: ExerciseSpec, p: _Params) -> tuple[int, int]:
        if p.shapes:
            return widest(use, 7, 888.8, 888.8), widest(_sample_shape, 888.8, 888.8, "7")
        label = esc(self._widest_label(spec))
        return widest(_item_text, 888.8, 888.8, label), widest(_sample_text, 888.8, 888.8, label)

    def _grid_bound(self, spec: ExerciseSpec, p: _Params, key: bool) -> int:
        head, tail, rows = self._fixed(spec, p, key)
        item, sample = self._widest_item(spec, p)
        rows_bytes = sum(blen(r) + len("</g>") for r in rows)
        # samples: up to n_targets, drawn inside the first group of ``head``
        return blen(head + tail) + rows_bytes + p.rows * p.cols * item + p.n_targets * sample

    def _grid(self, spec: ExerciseSpec, data: _Data, key: bool) -> tuple[list[str], list[int]]:
        """Draw samples + grid; return the parts and the target count of every row."""
        p = self.params(spec)
        dx, dy, size = self._geometry(p)
        head, tail, rows = self._fixed(spec, p, key)
        split = head.rindex("</g>")
        out = [head[:split]]
        out.extend(self._sample(p, i, t) for i, t in enumerate(data.targets))
        out.append(head[split:])
        targets = set(data.targets)
        counts = []
        for r, row in enumerate(data.rows):
            out.append(rows[r])
            y = _TOP + r * dy
            for c, item in enumerate(row):
                out.append(self._item(p, _X0 + c * dx, y, size, item))
            out.append("</g>")
            counts.append(sum(1 for item in row if item in targets))
        out.append(tail)
        return out, counts

    # -- documents -----------------------------------------------------------

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        return self._grid_bound(spec, self.params(spec), key=False)

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        return "".join(self._grid(spec, data, key=False)[0])

    def _key_bound(self, spec: ExerciseSpec) -> int:
        p = self.params(spec)
        size = self._geometry(p)[2]
        rad = round(size * 0.62, 1)
        hits = p.rows * (p.per_row + p.spread) * widest(_hit, 888.8, 888.8, 99, 99, rad)
        counts = p.rows * widest(_count, 888.8, 888.8, 99, 99)
        total = widest(self._total, spec, 9999)
        fixed = len('<g class="hit">') + len('</g><g class="kc">') + len("</g>")
        return self._grid_bound(spec, p, key=True) + hits + counts + total + fixed

    def _total(self, spec: ExerciseSpec, n: int) -> str:
        total = text(spec.lang, "cancel.total", n=n)
        return (
            f'<text x="{RIGHT}" y="69" class="i e" data-role="total" '
            f'data-count="{n}">{total}</text>'
        )

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        p = self.params(spec)
        dx, dy, size = self._geometry(p)
        rad = round(size * 0.62, 1)
        out, counts = self._grid(spec, data, key=True)
        out.append('<g class="hit">')
        targets = set(data.targets)
        for r, row in enumerate(data.rows):
            y = _TOP + r * dy
            for c, item in enumerate(row):
                if item in targets:
                    out.append(_hit(_X0 + c * dx, y, r, c, rad))
        out.append('</g><g class="kc">')
        for r, n in enumerate(counts):
            out.append(_count((_BOX_X + RIGHT) / 2, _TOP + r * dy + 1.3, r, n))
        out.append("</g>")
        out.append(self._total(spec, sum(counts)))
        return "".join(out)

    def minutes(self, spec: ExerciseSpec) -> int:
        m = 2 + (spec.level - 1) // 3
        return min(m, 3 if spec.age < 6 else 4 if spec.age < 9 else 5)

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "cancel.key_note")


# --- Bourdon: digits and symbols (sustained attention) ----------------------

_DIGIT_LURES = {"6": "9", "9": "6", "3": "8", "8": "3", "1": "7", "7": "1", "2": "5", "5": "2"}
_DIGIT_LURES |= {"0": "8", "4": "1"}
_SHAPE_LURES = {"0": "6", "6": "0", "1": "3", "3": "1", "2": "7", "7": "2", "4": "5", "5": "4"}


class Cancellation(_CancelKind):
    """Bourdon-style cancellation of digits or shapes, with minute marks."""

    name = "cancellation"
    dimension = "sustained"
    variants = ("digits", "symbols")
    variant_min_age: ClassVar[dict[str, int]] = {"digits": 5}

    def default_variant(self, age: int, lang: str) -> str:
        return "symbols" if age < 6 else "digits"

    def params(self, spec: ExerciseSpec) -> _Params:
        shapes = self.variant_of(spec) == "symbols"
        lv, age = spec.level, spec.age
        cols = ramp(lv, age, 8, 18) if shapes else ramp(lv, age, 10, 24)
        rows = ramp(lv, age, 5, 14) if shapes else ramp(lv, age, 6, 18)
        per_row = max(2, round(cols * 0.2))
        n_targets = 1 if lv <= 3 else 2 if lv <= 7 else 3
        lure = 0.1 + 0.05 * (lv - 1)
        return _Params(
            rows, cols, per_row, max(1, per_row // 3), n_targets, lure, shapes, print_cap(age)
        )

    def _pools(
        self, spec: ExerciseSpec, rng: random.Random
    ) -> tuple[list[str], list[str], list[str]]:
        p = self.params(spec)
        alphabet = [str(i) for i in range(8 if p.shapes else 10)]
        lure_of = _SHAPE_LURES if p.shapes else _DIGIT_LURES
        targets = rng.sample(alphabet, p.n_targets)
        lures = sorted({lure_of[t] for t in targets if t in lure_of} - set(targets))
        fillers = [a for a in alphabet if a not in targets and a not in lures]
        return targets, lures, fillers

    def _widest_label(self, spec: ExerciseSpec) -> str:
        return "8"

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, f"kind.cancellation.instructions_{self.variant_of(spec)}")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return self.young_text(spec, "how_to_run", m=self.minutes(spec))


# --- look-alike 汉字 / letters (selective attention) --------------------------

_HANZI_GROUPS: tuple[tuple[str, ...], ...] = (
    ("未", "末"),
    ("己", "已", "巳"),
    ("大", "太", "犬"),
    ("日", "曰"),
    ("人", "入", "八"),
    ("土", "士"),
    ("千", "干", "于"),
    ("刀", "力"),
    ("天", "夭"),
    ("王", "玉", "主"),
    ("木", "本", "术"),
    ("白", "自"),
    ("田", "由", "甲", "申"),
    ("今", "令"),
    ("贝", "见"),
    ("乌", "鸟"),
)
_HANZI_PLAIN = ("山", "口", "月", "水", "火", "手", "上", "下", "小", "中", "马", "牛")
_LETTER_GROUPS: tuple[tuple[str, ...], ...] = (
    ("b", "d", "p", "q"),
    ("m", "n", "u", "h"),
    ("E", "F"),
    ("O", "Q", "C"),
    ("M", "W", "N"),
    ("v", "w", "y"),
)
_LETTER_PLAIN = ("a", "c", "e", "k", "r", "s", "t", "x", "z", "A", "K", "T")


class HanziCancellation(_CancelKind):
    """Find one 汉字 (or letter) among look-alikes such as 未/末, 己/已/巳, b/d/p/q."""

    name = "hanzi_cancellation"
    dimension = "selective"
    min_age = 5
    variants = ("hanzi", "letters")
    variant_langs: ClassVar[dict[str, tuple[str, ...]]] = {"hanzi": ("zh",)}
    latin_variants: ClassVar[frozenset[str]] = frozenset({"letters"})

    def default_variant(self, age: int, lang: str) -> str:
        return "hanzi" if lang == "zh" else "letters"

    def params(self, spec: ExerciseSpec) -> _Params:
        lv, age = spec.level, spec.age
        cols = ramp(lv, age, 8, 18)
        rows = ramp(lv, age, 5, 14)
        per_row = max(2, round(cols * 0.2))
        lure = 0.25 + 0.06 * (lv - 1)
        return _Params(
            rows,
            cols,
            per_row,
            max(1, per_row // 3),
            1 if lv <= 7 else 2,
            lure,
            False,
            print_cap(age),
        )

    def _pools(
        self, spec: ExerciseSpec, rng: random.Random
    ) -> tuple[list[str], list[str], list[str]]:
        p = self.params(spec)
        hanzi = self.variant_of(spec) == "hanzi"
        groups = _HANZI_GROUPS if hanzi else _LETTER_GROUPS
        n_groups = 1 if spec.level <= 3 else 2 if spec.level <= 6 else 3
        chosen = rng.sample(groups, n_groups)
        targets = [rng.choice(g) for g in chosen[: p.n_targets]]
        lures = [c for g in chosen[: p.n_targets] for c in g if c not in targets]
        fillers = [c for g in chosen[p.n_targets :] for c in g]
        fillers += (_HANZI_PLAIN if hanzi else _LETTER_PLAIN)[: 12 - 2 * n_groups]
        return targets, lures, fillers

    def _widest_label(self, spec: ExerciseSpec) -> str:
        return "未" if self.variant_of(spec) == "hanzi" else "W"

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, f"kind.hanzi_cancellation.instructions_{self.variant_of(spec)}")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.hanzi_cancellation.how_to_run")
