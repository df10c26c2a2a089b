"""Scores and levels are visible: a low score starts its dimension lower than a high
score at the same age, and the overview's schedule and the lesson plans show
each exercise's level, so a teacher sees what the scores changed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from generators.lessons import lesson_doc, overview_doc
from generators.norms import digit_span_typical, schulte_check
from generators.plan import Plan, build_plan
from generators.request import PlanRequest
from generators.worksheets import REGISTRY


class _Rows(HTMLParser):
    """The cell texts of every table row after the heading ``section``."""

    def __init__(self, section: str) -> None:
        super().__init__()
        self.section, self.inside, self.rows = section, False, []
        self._heading = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._heading = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._heading = False
        elif tag == "td" and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self._heading:
            self.inside = data == self.section
        elif self._cell is not None:
            self._cell.append(data)


def _schedule(plan: Plan) -> list[list[str]]:
    parser = _Rows("课程安排" if plan.request.lang == "zh" else "Schedule")
    parser.feed(overview_doc(plan).render().decode())
    return [row for row in parser.rows if row]


def _plan(span: int, lang: str, age: int = 8) -> Plan:
    return build_plan(
        PlanRequest(
            name="Ann",
            mode="assessment",
            age=age,
            weeks=4,
            scores={"span": span, "sustained": 50, "selective": 50},
            lang=lang,
            start_date=None,
        )
    )


def _shown_levels(cell: str, lang: str) -> list[int]:
    pattern = r"（(\d+) 级）" if lang == "zh" else r"\(level (\d+)\)"
    return [int(n) for n in re.findall(pattern, cell)]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("age", [5, 8, 12])
def test_a_low_score_starts_lower_and_the_schedule_shows_it(lang: str, age: int) -> None:
    low, high = _plan(5, lang, age), _plan(95, lang, age)

    def span_levels(plan: Plan) -> list[int]:
        return [
            e.spec.level for les in plan.lessons for e in les.exercises if e.dimension == "span"
        ]

    assert span_levels(low)[0] < span_levels(high)[0]
    assert all(a < b for a, b in zip(span_levels(low), span_levels(high), strict=False))

    def shown(plan: Plan) -> list[int]:
        """Levels the schedule prints for the span exercises, in plan order."""
        out = []
        for lesson, row in zip(plan.lessons, _schedule(plan), strict=True):
            levels = _shown_levels(row[4], lang)
            assert levels == [e.spec.level for e in lesson.exercises]  # every exercise, in order
            out += [
                lv for lv, e in zip(levels, lesson.exercises, strict=True) if e.dimension == "span"
            ]
        return out

    assert shown(low) == span_levels(low) and shown(high) == span_levels(high)
    assert shown(low) != shown(high)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_lesson_plan_shows_levels_and_when_to_change_them(lang: str) -> None:
    plan = _plan(20, lang)
    lesson = plan.lessons[1]
    text = lesson_doc(plan, lesson).render().decode()
    for ex in lesson.exercises:
        title = REGISTRY[ex.kind].title_for(ex.spec)
        item = f"，{ex.spec.level} 级）" if lang == "zh" else f", level {ex.spec.level})"
        assert title.split("（")[0] in text and item in text
    assert ("什么时候升一级、降一级" if lang == "zh" else "When to move a child up or down") in text
    assert ("75 分以上" if lang == "zh" else "75 or more") in text


@pytest.mark.parametrize("age", [4, 6, 8, 13])
def test_the_overview_says_where_scores_come_from(age: int) -> None:
    for lang in ("zh", "en"):
        plan = _plan(50, lang, age)
        text = overview_doc(plan).render().decode()
        side, seconds = schulte_check(age)
        assert ("TEA-Ch" in text) and f"{side}×{side}" in text
        assert (f"约 {seconds} 秒" if lang == "zh" else f"about {seconds} s") in text
        digits = digit_span_typical(age, backward=age >= 7)
        assert (f"{digits} 位" if lang == "zh" else f"{digits} digits") in text
    focus = build_plan(PlanRequest(name="A", mode="focus", age=8, weeks=1))
    assert "TEA-Ch" not in overview_doc(focus).render().decode()
