"""Retests measure progress: over many real plans (ages 4-14, zh and en), every
retest sheet is a parallel form of its baseline sheet: same kind, level and
variant, so its size and frame are the same, but new content, so the bytes
of the sheet and of its key differ (the sheet code aside)."""

from __future__ import annotations

import pytest

from generators.plan import build_plan
from generators.request import PlanRequest
from generators.worksheets import REGISTRY
from generators.worksheets.page import sheet_code


def _plans() -> list[PlanRequest]:
    return [
        PlanRequest(
            name="Kim",
            mode="assessment",
            age=age,
            weeks=4,
            lessons_per_week=2,
            exercises_per_lesson=3 + age % 8,
            scores={"span": 30, "selective": 60, "working_memory": 80},
            lang=lang,
        )
        for age in range(4, 15)
        for lang in ("zh", "en")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("req", _plans(), ids=lambda r: f"{r.lang}-{r.age}")
def test_retest_sheets_differ_from_the_baseline_sheets(req: PlanRequest) -> None:
    plan = build_plan(req)
    assert plan.baseline is not None and len(plan.retest_lessons) == 2
    kinds = set()
    for retest in plan.retest_lessons:
        for new, old in zip(retest.exercises, plan.baseline.exercises, strict=True):
            kind = REGISTRY[new.kind]
            assert (new.kind, new.spec.level, new.spec.variant) == (
                old.kind,
                old.spec.level,
                old.spec.variant,
            )
            for part in (kind.sheet, kind.answer_key):
                a, b = part(new.spec), part(old.spec)
                assert a.size == b.size  # same parameters, same frame
                body_a = a.render().replace(sheet_code(new.spec.seed).encode(), b"")
                body_b = b.render().replace(sheet_code(old.spec.seed).encode(), b"")
                assert body_a != body_b, (new.kind, part.__name__)
            kinds.add(new.kind)
    assert len(kinds) >= 3


def test_those_plans_retest_every_kind() -> None:
    kinds = {e.kind for req in _plans() for e in build_plan(req).lessons[0].exercises}
    assert kinds == set(REGISTRY)


def test_the_lesson_plan_says_the_retest_is_a_parallel_form() -> None:
    from generators.lessons import lesson_doc

    for req in _plans()[:2]:
        plan = build_plan(req)
        text = lesson_doc(plan, plan.retest_lessons[0]).render().decode()
        assert ("平行题目" if req.lang == "zh" else "parallel forms") in text
