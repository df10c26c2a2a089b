"""Stroop sheets (selective attention / inhibition): name the ink, not the word.

Variants:
- ``words``: colour words (红/黄/蓝/绿 or red/yellow/blue/green) printed in
  ink of another colour; a share of congruent items at low levels makes the
  start gentler and falls to none by the top level.
- ``daynight``: for children under 7 (Day–Night Stroop): suns and moons drawn
  as SVG shapes; the child says "night" for a sun and "day" for a moon.

Strategy: a fixed grid (rows x cols by level and age); each item is one
``<text>`` (fixed-width ink attribute, word from a 4-entry table) or one
``<use>`` of a sun/moon symbol, so the bound is exact up to coordinate widths.
The same correct response never comes twice in a row. The key writes the
correct answer for every cell (``data-answer``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import BLUE, GREEN, RED, YELLOW, blen, num, widest

_COLOURS = ("red", "yellow", "blue", "green")
_INK = {"red": RED, "yellow": YELLOW, "blue": BLUE, "green": GREEN}
_PICTURES = ("sun", "moon")


def _words(lang: str) -> dict[str, str]:
    """Colour key -> the printed colour word in ``lang`` (catalogue ``word_<colour>``)."""
    t = section(lang, "kind.stroop")
    return {c: t[f"word_{c}"] for c in _COLOURS}


_X0, _X1, _Y0, _Y1 = 30.0, 180.0, 76.0, 266.0  # day-night pictures reach 14 mm below _Y1

# Sun: disc with eight rays; moon: crescent. Both centred on (0, 0), radius ~14.
_DEFS = (
    '<defs><g id="sun" transform="scale(1.4)">'
    '<g stroke="#d99a00" stroke-width="1.2" stroke-linecap="round">'
    '<path d="M0-10V-7M0 7V10M-10 0H-7M7 0H10M-7.1-7.1-5-5M5 5 7.1 7.1M-7.1 7.1-5 5M5-5 7.1-7.1"/>'
    '</g><circle r="5.6" fill="#ffc21a" stroke="#d99a00" stroke-width=".6"/></g>'
    '<path id="moon" transform="scale(1.4)" d="M2.5-8.6A9 9 0 1 0 8.6 3.2 7 7 0 1 1 2.5-8.6Z" '
    'fill="#5b6fb5"/></defs>'
)


@dataclass(frozen=True, slots=True)
class _Data:
    words: tuple[str, ...]  # colour key of the printed word ("" for pictures)
    inks: tuple[str, ...]  # colour key of the ink, or "sun" / "moon"


def _word(x: float, y: float, r: int, c: int, ink: str, word: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-cell="{r},{c}" style="fill:{ink}">{word}</text>'


def _picture(x: float, y: float, r: int, c: int, what: str) -> str:
    return f'<use href="#{what}" x="{num(x)}" y="{num(y)}" data-cell="{r},{c}"/>'


def _answer(x: float, y: float, r: int, c: int, key: str, text: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-cell="{r},{c}" data-answer="{key}">{text}</text>'


class Stroop(Kind):
    name = "stroop"
    dimension = "selective"
    variants = ("words", "daynight")
    variant_min_age: ClassVar[dict[str, int]] = {"words": 6}
    variant_max_age: ClassVar[dict[str, int]] = {"daynight": 8}
    css: ClassVar[str] = ".sw{font-weight:700;text-anchor:middle}.sk{text-anchor:middle}"

    def default_variant(self, age: int, lang: str) -> str:
        return "daynight" if age < 7 else "words"

    def needs_colour(self, spec: ExerciseSpec) -> bool:
        """Naming the ink is the task: colour words need a colour print; suns and moons do not."""
        return self.variant_of(spec) == "words"

    def grid(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(rows, cols): more items with level and age."""
        if self.variant_of(spec) == "daynight":
            return ramp(spec.level, spec.age, 3, 5), ramp(spec.level, spec.age, 4, 6)
        return ramp(spec.level, spec.age, 4, 8), ramp(spec.level, spec.age, 4, 6)

    def _data(self, spec: ExerciseSpec) -> _Data:
        rows, cols = self.grid(spec)
        rng = random.Random(spec.seed)
        words: list[str] = []
        inks: list[str] = []
        if self.variant_of(spec) == "daynight":
            for _ in range(rows * cols):
                # no run of three equal pictures: the rule must be applied every time
                if len(inks) >= 2 and inks[-1] == inks[-2]:
                    pic = "moon" if inks[-1] == "sun" else "sun"
                else:
                    pic = rng.choice(("sun", "moon"))
                words.append("")
                inks.append(pic)
            return _Data(tuple(words), tuple(inks))
        congruent = max(0.0, 0.35 - 0.04 * (spec.level - 1))
        prev = ""
        for _ in range(rows * cols):
            word = rng.choice(_COLOURS)
            if rng.random() < congruent and word != prev:
                ink = word
            else:
                ink = rng.choice([c for c in _COLOURS if c != word and c != prev])
            words.append(word)
            inks.append(ink)
            prev = ink
        return _Data(tuple(words), tuple(inks))

    def _geom(self, spec: ExerciseSpec) -> tuple[float, float, float]:
        """(dx, dy, font size)."""
        rows, cols = self.grid(spec)
        dx = (_X1 - _X0) / max(cols - 1, 1)
        dy = (_Y1 - _Y0) / max(rows - 1, 1)
        fs = min(12.0, dy * 0.6) if spec.lang == "zh" else min(9.0, dx * 0.24, dy * 0.6)
        return dx, min(dy, 70.0), round(fs, 1)  # few rows spread over the page

    def _open(self, spec: ExerciseSpec, key: bool) -> str:
        fs = self._geom(spec)[2]
        if key:
            return f'<g class="sk" font-size="{round(fs * 0.75, 1)}">'
        if self.variant_of(spec) == "daynight":
            return _DEFS + "<g>"
        return f'<g class="sw" font-size="{fs}">'

    def _cells(self, spec: ExerciseSpec) -> list[tuple[int, int, float, float]]:
        rows, cols = self.grid(spec)
        dx, dy, _fs = self._geom(spec)
        return [(r, c, _X0 + c * dx, _Y0 + r * dy) for r in range(rows) for c in range(cols)]

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        rows, cols = self.grid(spec)
        if self.variant_of(spec) == "daynight":
            item = widest(_picture, 888.8, 888.8, 9, 9, "moon")
        else:
            word = max(_words(spec.lang).values(), key=blen)
            item = widest(_word, 888.8, 888.8, 9, 9, RED, word)
        return blen(self._open(spec, False)) + len("</g>") + rows * cols * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        fs = self._geom(spec)[2]
        out = [self._open(spec, False)]
        pictures = self.variant_of(spec) == "daynight"
        words = _words(spec.lang)
        for (r, c, x, y), word, ink in zip(self._cells(spec), data.words, data.inks, strict=True):
            if pictures:
                out.append(_picture(x, y, r, c, ink))
            else:
                out.append(_word(x, y + fs * 0.36, r, c, _INK[ink], words[word]))
        out.append("</g>")
        return "".join(out)

    def _answer_text(self, spec: ExerciseSpec, ink: str) -> str:
        key = f"say_{ink}" if ink in _PICTURES else f"word_{ink}"
        return text(spec.lang, f"kind.stroop.{key}")

    def _key_bound(self, spec: ExerciseSpec) -> int:
        rows, cols = self.grid(spec)
        keys = _PICTURES if self.variant_of(spec) == "daynight" else _COLOURS
        item = max(
            widest(_answer, 888.8, 888.8, 9, 9, self._say_key(k), self._answer_text(spec, k))
            for k in keys
        )
        return blen(self._open(spec, True)) + len("</g>") + rows * cols * item

    @staticmethod
    def _say_key(ink: str) -> str:
        return {"sun": "night", "moon": "day"}.get(ink, ink)

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        fs = self._geom(spec)[2]
        out = [self._open(spec, True)]
        for (r, c, x, y), ink in zip(self._cells(spec), data.inks, strict=True):
            text = self._answer_text(spec, ink)
            out.append(_answer(x, y + fs * 0.27, r, c, self._say_key(ink), text))
        out.append("</g>")
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        rows, cols = self.grid(spec)
        return 2 if rows * cols <= 30 else 3

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, f"kind.stroop.instructions_{self.variant_of(spec)}")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.stroop.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.stroop.key_note")
