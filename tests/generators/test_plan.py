"""build_plan: structure, weighting, coverage, retests, difficulty, determinism, speed."""

from __future__ import annotations

import dataclasses
import itertools
import time
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generators.dimensions import DIMENSIONS
from generators.plan import (
    Plan,
    build_plan,
    day_offsets,
    mix64,
    retest_indexes,
)
from generators.request import PlanRequest
from generators.worksheets import REGISTRY as REAL
from generators.worksheets.base import MAX_LEVEL, Registry
from tests.generators.plan_support import REGISTRY, FakeKind, requests

SCORES = {"span": 20, "sustained": 90, "selective": 60}


def make(**fields: object) -> PlanRequest:
    base: dict[str, object] = {"name": "小明", "mode": "assessment", "age": 8, "scores": SCORES}
    base.update(fields)
    if base["mode"] == "focus":
        base["scores"] = {}
    return PlanRequest(**base)  # type: ignore[arg-type]


def plan_of(**fields: object) -> Plan:
    return build_plan(make(**fields), REGISTRY)


def per_lesson(req: PlanRequest) -> int:
    """Exercises a lesson holds: as asked, at most four at ages 4-5 (restated, not imported)."""
    return min(req.exercises_per_lesson, 4) if req.age <= 5 else req.exercises_per_lesson


def block_weeks(req: PlanRequest) -> int:
    """Weeks per coverage block, as documented in generators.plan (restated, not imported)."""
    capacity = req.lessons_per_week * per_lesson(req)
    return 1 if capacity >= 8 else -(-8 // capacity)


def test_young_children_get_at_most_four_exercises_a_lesson() -> None:
    for age, asked, expected in ((4, 7, 4), (5, 10, 4), (5, 3, 3), (6, 7, 7)):
        plan = plan_of(age=age, weeks=2, exercises_per_lesson=asked)
        assert {len(lesson.exercises) for lesson in plan.lessons} == {expected}
        _assert_coverage(plan)


def training(plan: Plan) -> list:
    return [lesson for lesson in plan.lessons if not lesson.is_retest]


# -- structure ------------------------------------------------------------------------------


def test_shape_numbering_and_specs() -> None:
    req = make(weeks=3, lessons_per_week=4, exercises_per_lesson=6, lang="en")
    plan = build_plan(req, REGISTRY)
    assert len(plan.lessons) == 12 and plan.seed == req.seed and plan.weeks == 3
    for i, lesson in enumerate(plan.lessons, start=1):
        assert lesson.index == i
        assert (lesson.week, lesson.number_in_week) == ((i - 1) // 4 + 1, (i - 1) % 4 + 1)
        assert [e.number for e in lesson.exercises] == list(range(1, 7))
        assert lesson.date is None
        for ex in lesson.exercises:
            kind = REGISTRY[ex.kind]
            assert ex.spec.kind == ex.kind and kind.dimension == ex.dimension
            assert ex.spec.age == 8 and ex.spec.lang == "en"
            assert ex.spec.variant in kind.variants
            assert 1 <= ex.spec.level <= MAX_LEVEL
    assert [n for n, _ in plan.by_week()] == [1, 2, 3]
    assert plan.week(2) == plan.lessons[4:8]
    assert sum(plan.dimension_counts().values()) == 72


def test_lesson_dates_spread_over_each_week() -> None:
    start = date(2025, 3, 3)  # a Monday
    plan = plan_of(weeks=2, lessons_per_week=3, start_date=start)
    assert [lesson.date for lesson in plan.lessons] == [
        start + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)
    ]
    for n in range(1, 8):
        offsets = day_offsets(n)
        assert len(set(offsets)) == n and offsets[0] == 0 and offsets[-1] <= 6


def test_training_seeds_are_distinct_64_bit() -> None:
    plan = plan_of(weeks=8, lessons_per_week=5, exercises_per_lesson=10)
    seeds = [e.spec.seed for lesson in training(plan) for e in lesson.exercises]
    assert len(seeds) == len(set(seeds))
    assert all(0 <= s < 2**64 for s in seeds)
    assert len({mix64(i) for i in range(10_000)}) == 10_000


def test_age_outside_every_kind_falls_back_to_nearest() -> None:
    # fake_divided covers all ages, so drop it: only the 12+ kind remains.
    registry = Registry(v for k, v in REGISTRY.items() if k != "fake_divided")
    plan = build_plan(make(age=5), registry)
    kinds = {
        e.kind for lesson in plan.lessons for e in lesson.exercises if e.dimension == "divided"
    }
    assert kinds == {"fake_divided_teen"}


def test_registry_without_a_dimension_is_an_error() -> None:
    registry = Registry(v for v in REGISTRY.values() if v.dimension != "auditory")
    with pytest.raises(LookupError, match="auditory"):
        build_plan(make(), registry)


def test_kinds_rotate_within_a_dimension() -> None:
    plan = plan_of(age=10, weeks=4, scores={"span": 0, "sustained": 90, "selective": 90})
    per_lesson = [
        {e.kind for e in lesson.exercises if e.dimension == "span"} for lesson in training(plan)
    ]
    per_lesson = [kinds for kinds in per_lesson if kinds]
    # one kind per dimension in a lesson (a second span slot repeats it with a new
    # seed), the next kind in the next lesson that trains the dimension
    assert all(len(kinds) == 1 for kinds in per_lesson)
    span_kinds = [kinds.pop() for kinds in per_lesson]
    assert set(span_kinds) == {"fake_span", "fake_span_flash"}
    assert not any(a == b for a, b in itertools.pairwise(span_kinds))


def test_default_registry_is_the_real_one() -> None:
    plan = build_plan(make(weeks=2))

    assert all(e.kind in REAL for lesson in plan.lessons for e in lesson.exercises)


# -- weighting and coverage ------------------------------------------------------------------------


def test_weaker_dimensions_get_more_slots() -> None:
    counts = plan_of(weeks=4, lessons_per_week=3, exercises_per_lesson=7).dimension_counts()
    # span 20 < unassessed (50) < selective 60 < sustained 90
    assert counts["span"] > counts["shifting"] > counts["selective"] > counts["sustained"] >= 4


@settings(max_examples=80, deadline=None)
@given(requests(max_weeks=12, mode="assessment"))
def test_weakest_never_trains_less_than_strongest(req: PlanRequest) -> None:
    plan = build_plan(req, REGISTRY)
    counts = plan.dimension_counts()
    scores = {d: req.scores.get(d, 50) for d in DIMENSIONS}
    # Every pair, not just the extremes: a lower score never means fewer slots.
    for a, b in itertools.permutations(DIMENSIONS, 2):
        if scores[a] < scores[b]:
            assert counts[a] >= counts[b], (a, b, counts)


def _assert_coverage(plan: Plan) -> None:
    req = plan.request
    block = block_weeks(req)
    for first in range(1, req.weeks + 1, block):
        weeks = range(first, first + block)
        if weeks[-1] > req.weeks:
            break  # a last, shorter block cannot hold every dimension
        dims = {e.dimension for w in weeks for lesson in plan.week(w) for e in lesson.exercises}
        assert dims == set(DIMENSIONS), (req, first, dims)


@settings(max_examples=80, deadline=None)
@given(requests(max_weeks=12))
def test_every_dimension_in_every_week_or_block(req: PlanRequest) -> None:
    _assert_coverage(build_plan(req, REGISTRY))


@pytest.mark.parametrize("mode", ["assessment", "focus"])
def test_coverage_for_every_small_shape(mode: str) -> None:
    """Exhaustive over short plans, where retests and short blocks interact most."""
    for weeks, per_week, per_lesson in itertools.product(range(1, 7), range(1, 8), range(3, 11)):
        plan = plan_of(
            mode=mode, weeks=weeks, lessons_per_week=per_week, exercises_per_lesson=per_lesson
        )
        _assert_coverage(plan)
        if weeks * per_week * per_lesson >= 8 and weeks >= block_weeks(plan.request):
            assert all(plan.dimension_counts().values())


def test_week_with_capacity_eight_or_more_holds_every_dimension() -> None:
    plan = plan_of(weeks=3, lessons_per_week=1, exercises_per_lesson=8)
    for _, lessons in plan.by_week():
        assert {e.dimension for lesson in lessons for e in lesson.exercises} == set(DIMENSIONS)


@settings(max_examples=50, deadline=None)
@given(requests(max_weeks=16, mode="focus"))
def test_focus_mode_is_balanced(req: PlanRequest) -> None:
    """Within one exercise, plus one per retest (a retest repeats the class baseline's
    dimensions; the training lessons of its block make up what they can)."""
    plan = build_plan(req, REGISTRY)
    counts = plan.dimension_counts()
    assert max(counts.values()) - min(counts.values()) <= 1 + len(plan.retest_lessons)


def test_lessons_repeat_a_dimension_only_when_they_must() -> None:
    # one week: no retest lessons fix dimensions, so dealing alone decides
    plan = plan_of(mode="focus", weeks=1, lessons_per_week=3, exercises_per_lesson=7)
    for lesson in plan.lessons:
        assert len(lesson.dimensions) == 7
        dims = [e.dimension for e in lesson.exercises]
        assert not any(a == b for a, b in itertools.pairwise(dims))


# -- retests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks", "per_week", "per_lesson", "expected"),
    [
        (1, 7, 7, ()),  # one week is too short to show change
        (2, 1, 7, ()),  # baseline then retest with no training between
        (2, 2, 7, (4,)),  # middle would follow the baseline directly
        (2, 3, 7, (3, 6)),
        (3, 1, 7, (3,)),
        (4, 3, 7, (6, 12)),
        (5, 1, 7, (3, 5)),
        (52, 7, 10, (182, 364)),
        # Three-exercise lessons: a retest must leave its block room for coverage.
        (2, 3, 3, (6,)),
        (3, 1, 3, ()),
        (5, 1, 3, (5,)),
        (2, 2, 3, (4,)),
    ],
)
def test_retest_positions(
    weeks: int, per_week: int, per_lesson: int, expected: tuple[int, ...]
) -> None:
    assert retest_indexes(weeks, per_week, per_lesson) == expected
    plan = plan_of(weeks=weeks, lessons_per_week=per_week, exercises_per_lesson=per_lesson)
    assert tuple(lesson.index for lesson in plan.retest_lessons) == expected
    assert plan.retest_indexes == expected
    assert (plan.baseline is plan.lessons[0]) == bool(expected)


def test_retests_are_parallel_forms_of_the_baseline() -> None:
    plan = plan_of(weeks=4, lessons_per_week=3)
    baseline = plan.lessons[0]
    assert not any(e.retest for e in baseline.exercises)
    seeds = {e.spec.seed for lesson in plan.lessons for e in lesson.exercises}
    assert len(seeds) == sum(len(lesson.exercises) for lesson in plan.lessons)
    for lesson in plan.retest_lessons:
        assert lesson.level == baseline.level
        for e, b in zip(lesson.exercises, baseline.exercises, strict=True):
            assert e.spec.seed != b.spec.seed
            assert dataclasses.replace(e.spec, seed=0) == dataclasses.replace(b.spec, seed=0)
        assert [(e.number, e.dimension, e.kind) for e in lesson.exercises] == [
            (e.number, e.dimension, e.kind) for e in baseline.exercises
        ]
        assert all(e.retest for e in lesson.exercises)
    assert sum(lesson.is_retest for lesson in plan.lessons) == 2


def test_focus_mode_measures_the_class_too() -> None:
    """Lesson-prep plans get the group baseline and retests of assessment plans."""
    focus = plan_of(mode="focus", weeks=8)
    assessment = plan_of(mode="assessment", weeks=8)
    assert focus.retest_indexes == assessment.retest_indexes == (12, 24)
    assert focus.baseline is focus.lessons[0]
    assert all(lesson.is_retest for lesson in focus.retest_lessons)
    assert plan_of(mode="focus", weeks=1).retest_lessons == ()


def test_baseline_trains_the_weakest_dimensions() -> None:
    plan = plan_of(weeks=4, lessons_per_week=2, exercises_per_lesson=3)
    dims = set(plan.lessons[0].dimensions)
    assert "span" in dims and "sustained" not in dims


# -- difficulty ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(requests(max_weeks=30))
def test_difficulty_steps_by_at_most_one(req: PlanRequest) -> None:
    lessons = training(build_plan(req, REGISTRY))
    for before, after in itertools.pairwise(lessons):
        assert abs(after.level - before.level) <= 1
        assert before.level <= after.level  # it never falls back either
        old = {e.dimension: e.spec.level for e in before.exercises}
        for ex in after.exercises:
            if ex.dimension in old:
                assert abs(ex.spec.level - old[ex.dimension]) <= 1


def test_level_rises_with_week_and_age() -> None:
    plan = plan_of(weeks=12)
    assert plan.lessons[-2].level > plan.lessons[0].level
    firsts = [plan_of(age=age, mode="focus").lessons[0].level for age in range(4, 15)]
    assert firsts == sorted(firsts) and firsts[-1] > firsts[0]
    assert all(1 <= lesson.level <= MAX_LEVEL for lesson in plan_of(weeks=52, age=14).lessons)


def test_weak_dimensions_start_easier() -> None:
    first = plan_of(scores={"span": 10, "sustained": 95, "selective": 50}, weeks=2).lessons[1]
    level = {e.dimension: e.spec.level for e in first.exercises}
    assert level["span"] == first.level - 1 and level["selective"] == first.level
    if "sustained" in level:
        assert level["sustained"] == first.level + 1


# -- determinism -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(requests(max_weeks=8), st.text(min_size=1, max_size=5).filter(str.isalnum))
def test_same_request_same_plan_other_name_other_plan(req: PlanRequest, suffix: str) -> None:
    plan = build_plan(req, REGISTRY)
    assert build_plan(PlanRequest.from_canonical(req.canonical_bytes()), REGISTRY) == plan
    other_name = req.name[: 40 - len(suffix)] + suffix
    if other_name != req.name:
        other = build_plan(
            PlanRequest.from_mapping({**req.to_canonical(), "name": other_name}), REGISTRY
        )
        assert other.seed != plan.seed
        seeds = {e.spec.seed for lesson in plan.lessons for e in lesson.exercises}
        assert seeds.isdisjoint(e.spec.seed for lesson in other.lessons for e in lesson.exercises)


def test_other_scores_other_plan() -> None:
    a = plan_of(weeks=2)
    b = plan_of(weeks=2, scores={**SCORES, "span": 21})
    assert a != b and a.seed != b.seed
    assert [e.spec for e in a.lessons[1].exercises] != [e.spec for e in b.lessons[1].exercises]


# -- speed -----------------------------------------------------------------------------------------


def _best_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def test_build_speed() -> None:
    big = make(weeks=52, lessons_per_week=7, exercises_per_lesson=10)
    assert _best_ms(lambda: build_plan(big, REGISTRY), 3) < 300
    small = make(weeks=4, lessons_per_week=3, exercises_per_lesson=7)
    assert _best_ms(lambda: build_plan(small, REGISTRY), 20) < 3


def test_fake_kind_is_a_protocol_stand_in() -> None:
    kind = REGISTRY["fake_span"]
    assert isinstance(kind, FakeKind) and kind.dimension == "span"
