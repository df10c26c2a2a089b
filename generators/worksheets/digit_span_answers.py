"""Digit span answer sheet: what each child writes on when the teacher reads to a class.

In lesson-prep (class) mode the teacher reads one digit-span list to up to
twelve children at once, so the answers cannot be said aloud one child at a
time. Each child gets this sheet: one numbered row of boxes per card, as
many boxes as the card has digits; the child writes the digits after the
teacher has read the set. The key is the expected answer of every card, in
its boxes, from the very cards the teacher reads (``DigitSpan``'s data for
the same seed), so teacher card, answer sheet and key always agree.

This is not a kind a plan picks (it is not in the registry): ``classmode``
adds it beside each digit-span exercise of a class plan.
"""

from __future__ import annotations

from dataclasses import replace

from generators.texts import section, text

from .base import ExerciseSpec
from .digit_span import DigitSpan
from .page import Kind
from .svg import blen, num

_ROW_H = 26.0
_TOP = 66.0
_BOX = 13.0


def _box(x: float, y: float, card: int, pos: int) -> str:
    return (
        f'<rect x="{num(x)}" y="{num(y)}" width="{_BOX}" height="{_BOX}" rx="1" class="ab" '
        f'data-card="{card}" data-pos="{pos}"/>'
    )


def _digit(x: float, y: float, card: int, pos: int, d: str) -> str:
    return (
        f'<text x="{num(x + _BOX / 2)}" y="{num(y + 9.5)}" class="ad" data-card="{card}" '
        f'data-pos="{pos}">{d}</text>'
    )


class DigitSpanAnswers(Kind):
    name = "digit_span_answers"
    dimension = "working_memory"
    variants = DigitSpan.variants
    variant_min_age = DigitSpan.variant_min_age
    css = (
        ".ab{fill:#fff;stroke:#333;stroke-width:.5}.al{font-size:4.2px;font-weight:700}"
        ".ad{font-size:8px;font-weight:700;text-anchor:middle;fill:#d62728}"
    )

    def __init__(self) -> None:
        super().__init__()
        self._cards = DigitSpan()

    def _card_spec(self, spec: ExerciseSpec) -> ExerciseSpec:
        return replace(spec, kind=self._cards.name)

    def lengths(self, spec: ExerciseSpec) -> tuple[int, ...]:
        return self._cards.lengths(self._card_spec(spec))

    def _data(self, spec: ExerciseSpec) -> tuple[str, ...]:
        """The expected answer of each card (reversed for backward cards)."""
        cards = self._cards._data(self._card_spec(spec)).cards
        backward = self._cards.variant_of(self._card_spec(spec)) == "backward"
        return tuple(c[::-1] if backward else c for c in cards)

    def _rows(self, spec: ExerciseSpec) -> str:
        label = section(spec.lang, "kind.digit_span_answers")["card"]
        out = []
        for i, n in enumerate(self.lengths(spec)):
            y = _TOP + i * _ROW_H
            out.append(f'<text x="15" y="{num(y + 9)}" class="al">{label.format(i=i + 1)}</text>')
            out.extend(_box(45 + p * (_BOX + 3), y, i + 1, p) for p in range(n))
        return "".join(out)

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        return blen(self._rows(spec))

    def _sheet_body(self, spec: ExerciseSpec, data: tuple[str, ...]) -> str:
        return self._rows(spec)

    def _key_bound(self, spec: ExerciseSpec) -> int:
        digits = sum(
            blen(_digit(888.8, 888.8, 9, p, "9")) for n in self.lengths(spec) for p in range(n)
        )
        return self._sheet_bound(spec) + digits

    def _key_body(self, spec: ExerciseSpec, data: tuple[str, ...]) -> str:
        out = [self._rows(spec)]
        for i, answer in enumerate(data):
            y = _TOP + i * _ROW_H
            out.extend(_digit(45 + p * (_BOX + 3), y, i + 1, p, d) for p, d in enumerate(answer))
        return "".join(out)

    def record(self, spec: ExerciseSpec) -> str:
        return ""

    def minutes(self, spec: ExerciseSpec) -> int:
        return self._cards.minutes(self._card_spec(spec))

    def instructions(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.digit_span_answers.instructions")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "class.digit_span")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.digit_span_answers.key_note")
