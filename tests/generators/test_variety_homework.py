"""Variety across a long plan, and homework that is never the sheet done in class.

Issue 12, item 11: in a 12-week plan no kind may be in more than two lessons
out of three unless the child's age leaves its dimension a single kind; and
the homework is a fresh sheet of the same kind (another seed).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from generators.dimensions import DIMENSIONS
from generators.entries import plan_entries
from generators.homework import homework_exercise
from generators.lessons import lesson_folder
from generators.plan import Lesson, Plan, build_plan
from generators.request import PlanRequest
from generators.texts import text
from generators.worksheets import REGISTRY, ExerciseSpec
from generators.worksheets.page import sheet_code

NEW_KINDS = ("visual_memory", "dot_copy", "patterns", "listen_colour", "count_two")
PROFILES = (
    ("focus", {}),
    ("assessment", {"span": 40, "sustained": 55, "selective": 70}),
    # one very weak dimension: it takes two slots in many lessons
    ("assessment", {"span": 5, "sustained": 95, "selective": 90, "auditory": 90}),
    ("assessment", dict.fromkeys(DIMENSIONS, 50) | {"divided": 0, "working_memory": 10}),
)


def request(mode: str, scores: dict[str, int], age: int, lang: str, weeks: int = 12) -> PlanRequest:
    return PlanRequest.from_mapping(
        {"name": "乐乐", "mode": mode, "age": age, "weeks": weeks, "scores": scores, "lang": lang}
    )


@pytest.mark.parametrize("age", range(4, 15))
def test_no_kind_in_more_than_two_lessons_of_three(age: int) -> None:
    for mode, scores in PROFILES:
        for lang in ("zh", "en"):
            plan = build_plan(request(mode, scores, age, lang))
            lessons = len(plan.lessons)
            assert lessons == 36
            in_lessons = Counter(k for ls in plan.lessons for k in {e.kind for e in ls.exercises})
            for kind, n in in_lessons.items():
                choices = REGISTRY.kinds_for(REGISTRY[kind].dimension, age)
                if len(choices) == 1:
                    continue  # the age leaves this dimension one kind
                assert 3 * n <= 2 * lessons, (mode, age, lang, kind, n)


def test_only_shifting_before_seven_is_left_without_a_choice() -> None:
    """Which dimensions the age leaves with a single kind: only shifting, only under 7."""
    single = {
        (dim, age)
        for age in range(4, 15)
        for dim in DIMENSIONS
        if len(REGISTRY.kinds_for(dim, age)) == 1
    }
    assert single == {("shifting", age) for age in (4, 5, 6)}


def test_the_new_kinds_are_used_in_plans() -> None:
    seen = set()
    for age in (4, 8, 13):
        plan = build_plan(request("focus", {}, age, "zh", weeks=4))
        seen |= {e.kind for ls in plan.lessons for e in ls.exercises}
    assert set(NEW_KINDS) <= seen


def _content(data: bytes, spec: ExerciseSpec) -> bytes:
    return data.replace(sheet_code(spec.seed).encode(), b"")


@pytest.mark.parametrize(
    ("mode", "age", "lang"),
    [("focus", 4, "zh"), ("assessment", 6, "en"), ("focus", 9, "en"), ("assessment", 14, "zh")],
)
def test_homework_is_a_fresh_sheet_of_the_same_kind(mode: str, age: int, lang: str) -> None:
    scores = {} if mode == "focus" else {"span": 30, "sustained": 60, "selective": 80}
    plan = build_plan(request(mode, scores, age, lang, weeks=4))
    entries = {e.name: e for e in plan_entries(plan)}
    home = text(lang, "names.homework_folder")
    class_seeds = {e.spec.seed for ls in plan.lessons for e in ls.exercises}
    homework_lessons = 0
    for lesson in plan.lessons:
        hw = homework_exercise(plan, lesson)
        mine = [n for n in entries if f"/{home}/" in n and n.startswith(_folder(plan, lesson))]
        if hw is None:
            assert lesson.is_retest and not mine
            continue
        homework_lessons += 1
        (same,) = (e for e in lesson.exercises if e.number == hw.number)
        assert (hw.kind, hw.spec.level, hw.spec.variant) == (
            same.kind,
            same.spec.level,
            same.spec.variant,
        )
        assert hw.spec.seed not in class_seeds
        assert len(mine) == 2  # the sheet and its key
        sheet_name = min(mine, key=len)
        hw_bytes = entries[sheet_name].source.render()  # type: ignore[attr-defined]
        assert f'data-kind="{hw.kind}"'.encode() in hw_bytes
        for ex in lesson.exercises:  # never a sheet already written on in class
            class_bytes = REGISTRY[ex.kind].sheet(ex.spec).render()
            assert _content(class_bytes, ex.spec) != _content(hw_bytes, hw.spec)
        doc = next(
            e
            for n, e in entries.items()
            if n == f"{_folder(plan, lesson)}/{text(lang, 'names.lesson_doc')}"
        )
        assert home in doc.source.render().decode()  # type: ignore[attr-defined]
    assert homework_lessons >= len(plan.lessons) - 2


def _folder(plan: Plan, lesson: Lesson) -> str:
    return f"{plan.request.archive_root}/{lesson_folder(lesson, plan.request.lang)}"


def test_homework_names_no_cjk_in_english() -> None:
    plan = build_plan(request("focus", {}, 9, "en", weeks=1))
    root = plan.request.archive_root  # holds the child's name, the one free text
    names = [e.name[len(root) :] for e in plan_entries(plan) if "/Homework/" in e.name]
    assert names and not any(re.search(r"[\u2e80-\U0002ffff]", n) for n in names)
