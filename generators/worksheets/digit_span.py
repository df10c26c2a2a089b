"""Digit span cards (working memory), forward and backward.

The teacher reads each card at one digit per second; the child repeats the
digits in the same order (forward) or reversed (backward). Eight cards: four
lengths, two trials each, starting at a length set by age (a little under
typical span, so the first cards succeed) plus one per four levels.

Strategy: lengths are deterministic, so every card's frame is measured exactly;
only the digits are random and a card of length L prints exactly L digits. The
key gives the expected response of every card (``data-answer``); for backward
cards it is the reversed sequence.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import ClassVar

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind
from .svg import blen

_TRIALS = 2
_LENGTHS = 4


@dataclass(frozen=True, slots=True)
class _Data:
    cards: tuple[str, ...]  # digit strings, e.g. "3816"


def _spaced(seq: str) -> str:
    return " ".join(seq)


class DigitSpan(Kind):
    name = "digit_span"
    dimension = "working_memory"
    teacher_only = True
    variants = ("forward", "backward")
    variant_min_age: ClassVar[dict[str, int]] = {"backward": 5}
    css: ClassVar[str] = (
        ".cd{fill:#fff;stroke:#888;stroke-width:.4}.ch{font-size:3.6px;fill:#555}"
        ".dg{font-size:9px;font-weight:700;text-anchor:middle;letter-spacing:1px}"
        ".rc{font-size:3.6px;fill:#555}.ka{font-size:5px}"
    )

    def lengths(self, spec: ExerciseSpec) -> tuple[int, ...]:
        """Card lengths in reading order: L0, L0, L0+1, L0+1, ... (at most 9)."""
        # Typical forward span grows from about 4 at age 4-5 to 6-7 at 14, backward
        # runs about two behind; start below it so the first cards succeed.
        base = int(2 + (spec.age - 4) * 0.3) + (spec.level - 1) // 4
        if self.variant_of(spec) == "backward":
            base -= 2
        base = min(max(base, 2), 9 - _LENGTHS + 1)
        return tuple(base + i // _TRIALS for i in range(_LENGTHS * _TRIALS))

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        return _Data(tuple(self._sequence(rng, n) for n in self.lengths(spec)))

    @staticmethod
    def _sequence(rng: random.Random, n: int) -> str:
        """n distinct digits 1-9 with no run of three like 4-5-6 or 7-6-5 (too easy to chunk)."""
        while True:
            digits = rng.sample(range(1, 10), n)
            steps = [b - a for a, b in itertools.pairwise(digits)]
            if not any(s == t and abs(s) == 1 for s, t in itertools.pairwise(steps)):
                return "".join(map(str, digits))

    @staticmethod
    def _answer(seq: str, backward: bool) -> str:
        return seq[::-1] if backward else seq

    # -- sheet ---------------------------------------------------------------

    def _card_frames(self, spec: ExerciseSpec) -> list[tuple[str, str]]:
        """Per card: text before the digits and after them (both deterministic)."""
        t = section(spec.lang, "kind.digit_span")
        out = []
        for i, n in enumerate(self.lengths(spec)):
            col, row = i % 2, i // 2
            x, y = 15.0 + col * 92.0, 64.0 + row * 54.0
            head = t["card"].format(i=i + 1, n=n)
            rec = t["tick"]
            before = (
                f'<rect x="{x}" y="{y}" width="88" height="50" rx="3" class="cd"/>'
                f'<text x="{x + 4}" y="{y + 7}" class="ch">{head}</text>'
                f'<text x="{x + 44}" y="{y + 28}" class="dg" data-card="{i + 1}" data-seq="'
            )
            after = f'</text><text x="{x + 4}" y="{y + 45}" class="rc">{rec}</text>'
            out.append((before, after))
        return out

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        total = 0
        for (before, after), n in zip(self._card_frames(spec), self.lengths(spec), strict=True):
            total += blen(before + after) + n + len('">') + len(_spaced("0" * n))
        return total

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        out = []
        for (before, after), seq in zip(self._card_frames(spec), data.cards, strict=True):
            out.append(f'{before}{seq}">{_spaced(seq)}{after}')
        return "".join(out)

    # -- key -----------------------------------------------------------------

    def _key_line(self, spec: ExerciseSpec, i: int) -> tuple[str, str]:
        y = 72.0 + i * 22.0
        label = text(spec.lang, "kind.digit_span.key_label", i=i + 1)
        return (
            f'<text x="20" y="{y}" class="ka" data-card="{i + 1}" data-answer="',
            label,
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        arrow = blen(text(spec.lang, "kind.digit_span.arrow"))
        total = 0
        for i, n in enumerate(self.lengths(spec)):
            before, label = self._key_line(spec, i)
            width = n + len('">') + blen(label) + 2 * len(_spaced("0" * n))
            total += blen(before) + width + arrow + len("</text>")
        return total

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        backward = self.variant_of(spec) == "backward"
        arrow = text(spec.lang, "kind.digit_span.arrow")
        out = []
        for i, seq in enumerate(data.cards):
            before, label = self._key_line(spec, i)
            answer = self._answer(seq, backward)
            out.append(f'{before}{answer}">{label}{_spaced(seq)}{arrow}{_spaced(answer)}</text>')
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 5

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, f"kind.digit_span.instructions_{self.variant_of(spec)}")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.digit_span.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, f"kind.digit_span.key_note_{self.variant_of(spec)}")
