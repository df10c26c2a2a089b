"""From a request to a plan: weeks -> lessons -> exercises, fully determined.

Strategy. The plan is cut into *blocks* of whole weeks, each with room for at
least one exercise of every dimension: one week when a week holds eight or
more exercises (``lessons_per_week * exercises_per_lesson >= 8``), otherwise
``ceil(8 / weekly capacity)`` weeks. Per block:

1. *Quotas*: every dimension gets one slot (coverage), then the remaining
   slots go one by one to the highest ``weight / (count + 0.5)`` (the
   Sainte-Laguë divisor rule). Weights come from the scores (lower score,
   more weight; unassessed dimensions count as mid-level) or are equal in
   focus mode. A divisor rule never gives a lighter dimension more slots than
   a heavier one, so the weakest dimension never trains less than the
   strongest, block by block and so over the whole plan. Ties go to the
   dimension with the fewest slots so far, which rotates focus-mode extras.
2. *Dealing*: the block's lessons are filled in order; each takes distinct
   dimensions first (most slots still owed first), repeats only when a
   lesson has more exercises than dimensions left to give.

Why blocks rather than "every week": with one lesson of three to seven
exercises a week, eight dimensions cannot fit in a week, and rejecting such
plans would refuse the most common centre timetable (one weekly class of
seven exercises). So the rule is: every dimension in every week when a week
holds at least eight exercises, otherwise in every block of
``ceil(8 / weekly capacity)`` weeks counted from week 1 (a last, shorter
block covers what it can). A plan with fewer than eight exercises in total
(a trial lesson) cannot cover every dimension and covers the neediest.

Assessment retests. Lesson 1 is the baseline. Its exercises come back as
parallel forms (same kind, level, variant and age; a new seed, so new
content: a child who traced the baseline maze meets a new one) with
``retest=True``, as the whole of the last lesson of the middle week
(``ceil(weeks / 2)``) and as the last lesson of the plan. A 1-week plan has no retest: a week is too
short to show change. Otherwise a retest needs at least one training lesson
since the previous measurement (so the end retest needs 3+ lessons, and the
middle one is dropped when it would directly follow the baseline or precede
the end retest), and must leave its block room to cover every dimension
(this drops one or both retests in a few short plans of 3-exercise
lessons, e.g. 3 weeks x 1 lesson x 3 exercises). Retest lessons count
towards their block's quotas, so coverage and weighting include them.

Difficulty. A lesson's level is ``base(age) + week // 2`` (one step every
two weeks), clamped to 1..MAX_LEVEL; a dimension's level adds -1 for a score
under 40 and +1 for 75 or more. Consecutive *training* lessons therefore
differ by at most one step, per dimension and per lesson. Retest lessons are
excluded by design: they repeat the baseline's parameters exactly, so
``Lesson.level`` of a retest lesson is the baseline's level.

Determinism. Choices come from SplitMix64 over the request seed (not from
``random``, whose algorithms may change between Python versions), and each
exercise's ``ExerciseSpec.seed`` (training or retest) is SplitMix64(plan
seed + ordinal): a bijection, so the seeds within a plan are distinct, not
just likely so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from generators.dimensions import DIMENSIONS
from generators.norms import YOUNG_MAX_AGE, YOUNG_MAX_EXERCISES
from generators.request import PlanRequest
from generators.worksheets import REGISTRY
from generators.worksheets.base import MAX_LEVEL, ExerciseSpec, Registry, WorksheetKind

AnyRegistry = Registry[WorksheetKind]

_M64 = (1 << 64) - 1
_N = len(DIMENSIONS)
_MID_SCORE = 50  # unassessed dimensions plan as if they scored this
_WEAK_BELOW = 40  # a score under this starts the dimension one level easier
_STRONG_FROM = 75  # a score of this or more starts it one level harder


def mix64(x: int) -> int:
    """SplitMix64's output function: a bijection on 64-bit integers, well mixed."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


# -- data model ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exercise:
    """One worksheet in a lesson; ``retest`` marks a repeat of a baseline exercise."""

    number: int  # 1-based position in the lesson
    dimension: str
    kind: str  # registry key
    spec: ExerciseSpec
    retest: bool = False


@dataclass(frozen=True, slots=True)
class Lesson:
    """One lesson: where it sits in the plan, when, how hard, and its exercises."""

    week: int  # 1-based
    number_in_week: int  # 1-based
    index: int  # 1-based over the whole plan
    date: date | None
    level: int  # 1..MAX_LEVEL
    exercises: tuple[Exercise, ...]

    @property
    def is_retest(self) -> bool:
        """True for a retest lesson (every exercise repeats the baseline)."""
        return bool(self.exercises) and self.exercises[0].retest

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The distinct dimensions trained, in order of first appearance."""
        return tuple(dict.fromkeys(e.dimension for e in self.exercises))


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole plan: the request it answers and its lessons in order."""

    request: PlanRequest
    lessons: tuple[Lesson, ...]
    seed: int
    retest_indexes: tuple[int, ...] = ()  # 1-based indexes of the retest lessons

    @property
    def weeks(self) -> int:
        return self.request.weeks

    def week(self, number: int) -> tuple[Lesson, ...]:
        """The lessons of week ``number`` (1-based)."""
        per = self.request.lessons_per_week
        return self.lessons[(number - 1) * per : number * per]

    def by_week(self) -> Iterator[tuple[int, tuple[Lesson, ...]]]:
        """``(week number, lessons)`` for every week, in order."""
        for number in range(1, self.request.weeks + 1):
            yield number, self.week(number)

    @property
    def baseline(self) -> Lesson | None:
        """The lesson the retests repeat (lesson 1), or None when there is no retest."""
        return self.lessons[0] if self.retest_indexes else None

    @property
    def retest_lessons(self) -> tuple[Lesson, ...]:
        return tuple(self.lessons[i - 1] for i in self.retest_indexes)

    def dimension_counts(self) -> dict[str, int]:
        """Exercises per dimension over the whole plan, retests included."""
        counts = dict.fromkeys(DIMENSIONS, 0)
        for lesson in self.lessons:
            for ex in lesson.exercises:
                counts[ex.dimension] += 1
        return counts


# -- rules that are worth naming ------------------------------------------------


def base_level(age: int) -> int:
    """Starting level for an age: 1 at 4-5 years, one step per two years, 6 at 14."""
    return 1 + (age - 4) // 2


def week_gain(week: int) -> int:
    """Levels gained by week ``week``: one step every two weeks."""
    return week // 2


def clamp_level(level: int) -> int:
    return max(1, min(MAX_LEVEL, level))


def exercises_per_lesson(req: PlanRequest) -> int:
    """Exercises in each lesson: as asked, but at most four at ages 4-5 (norms.py)."""
    if req.age <= YOUNG_MAX_AGE:
        return min(req.exercises_per_lesson, YOUNG_MAX_EXERCISES)
    return req.exercises_per_lesson


def block_weeks(lessons_per_week: int, exercises_per_lesson: int) -> int:
    """Weeks per coverage block: the fewest whole weeks with room for every dimension."""
    capacity = lessons_per_week * exercises_per_lesson
    return 1 if capacity >= _N else -(-_N // capacity)


def retest_indexes(weeks: int, lessons_per_week: int, exercises_per_lesson: int) -> tuple[int, ...]:
    """1-based lesson indexes of the retests of an assessment plan (see module doc)."""
    total = weeks * lessons_per_week
    if weeks < 2 or total < 3:
        return ()
    block = block_weeks(lessons_per_week, exercises_per_lesson)
    per_block = block * lessons_per_week
    # Baseline and retests all have the baseline's min(E, 8) dimensions; the
    # other lessons of a full block must be able to cover the rest.
    missing = _N - min(exercises_per_lesson, _N)

    def leaves_room(measured: list[int]) -> bool:
        for first in range(1, total + 1, per_block):
            last = first + per_block - 1
            if last > total:
                break  # a last, shorter block has no coverage to keep
            fixed = sum(first <= i <= last for i in measured)
            if (per_block - fixed) * exercises_per_lesson < missing:
                return False
        return True

    if not leaves_room([1, total]):
        return ()
    middle = lessons_per_week * -(-weeks // 2)
    if 3 <= middle <= total - 2 and leaves_room([1, middle, total]):
        return (middle, total)
    return (total,)


def day_offsets(lessons_per_week: int) -> tuple[int, ...]:
    """Days after the week's first day on which its lessons fall, spread evenly.

    Week 1 starts on ``start_date`` whatever its weekday; e.g. three lessons
    fall on days 0, 2 and 4 (Mon/Wed/Fri for a Monday start).
    """
    return tuple(i * 7 // lessons_per_week for i in range(lessons_per_week))


def dimension_weights(req: PlanRequest) -> tuple[int, ...]:
    """Slot weight per dimension: 20 for a score of 100, 120 for 0; equal in focus mode."""
    if req.mode != "assessment":
        return (1,) * _N
    return tuple(120 - req.scores.get(d, _MID_SCORE) for d in DIMENSIONS)


def level_adjustments(req: PlanRequest) -> tuple[int, ...]:
    """Per-dimension start offset: easier where the child is weak, harder where strong."""
    if req.mode != "assessment":
        return (0,) * _N
    out = []
    for d in DIMENSIONS:
        score = req.scores.get(d, _MID_SCORE)
        out.append(-1 if score < _WEAK_BELOW else 1 if score >= _STRONG_FROM else 0)
    return tuple(out)


# -- registry access ------------------------------------------------------------


def _kinds_by_dimension(registry: AnyRegistry, age: int) -> list[list[WorksheetKind]]:
    """Per dimension (DIMENSIONS order), the kinds the registry offers for ``age``, by key."""
    lists: list[list[WorksheetKind]] = []
    for dim in DIMENSIONS:
        kinds = registry.kinds_for(dim, age)
        if not kinds:
            raise LookupError(f"the worksheet registry has no kind for dimension {dim!r}")
        lists.append(sorted(kinds, key=lambda kind: kind.name))
    return lists


# -- slot allocation ---------------------------------------------------------------


def _quotas(
    total: int,
    fixed: Sequence[int],
    cover: bool,
    weights: Sequence[int],
    so_far: Sequence[int],
    rank: Sequence[int],
) -> list[int]:
    """Slots per dimension for one block (see module doc, step 1).

    ``fixed`` are slots already taken by baseline/retest lessons in the block;
    they count, so a retest's dimensions need no extra coverage slot.
    """
    counts = [max(f, 1) if cover else f for f in fixed]
    excess = sum(counts) - total
    if excess > 0:
        # Only possible when two retests share a short block: drop coverage
        # slots from the lightest dimensions first (keeps the weight order).
        for i in sorted(range(_N), key=lambda i: (weights[i], -rank[i])):
            if excess and counts[i] == 1 and fixed[i] == 0:
                counts[i] = 0
                excess -= 1
    for _ in range(total - sum(counts)):
        best = max(
            range(_N),
            key=lambda i: (
                weights[i] / (counts[i] + 0.5),
                weights[i],
                -(so_far[i] + counts[i]),
                -rank[i],
            ),
        )
        counts[best] += 1
    return counts


def _deal(
    owed: list[int], lessons: int, per_lesson: int, weights: Sequence[int], rank: Sequence[int]
) -> list[list[int]]:
    """Fill ``lessons`` lessons from the slots ``owed`` per dimension (mutated).

    Each pass over a lesson takes each dimension at most once, most owed
    first, so a lesson repeats a dimension only when it must.
    """
    out: list[list[int]] = []
    for _ in range(lessons):
        picks: list[int] = []
        while len(picks) < per_lesson:
            order = sorted(
                (i for i in range(_N) if owed[i] > 0),
                key=lambda i: (-owed[i], -weights[i], rank[i]),
            )
            if not order:
                break
            for i in order[: per_lesson - len(picks)]:
                owed[i] -= 1
                picks.append(i)
        out.append(picks)
    return out


def _arrange(picks: list[int], salt: int) -> list[int]:
    """Order a lesson's dimensions: a seeded shuffle, then no dimension twice in a row."""
    seq = sorted(picks, key=lambda i: mix64(salt ^ (i * 0x100000001B3)))
    # Stable shuffle of repeats: the sort key is per dimension, so a repeated
    # dimension lands next to itself; interleave it with the others.
    for pos in range(1, len(seq)):
        if seq[pos] == seq[pos - 1]:
            for later in range(pos + 1, len(seq)):
                if seq[later] != seq[pos]:
                    seq[pos], seq[later] = seq[later], seq[pos]
                    break
    return seq


def _rank(seed: int, salt: int) -> list[int]:
    """A seeded permutation rank per dimension: the last tie-breaker, varied per block."""
    keys = [mix64(seed ^ mix64(salt * _N + i)) for i in range(_N)]
    order = sorted(range(_N), key=keys.__getitem__)
    rank = [0] * _N
    for position, i in enumerate(order):
        rank[i] = position
    return rank


# -- the builder ---------------------------------------------------------------------


class _Picker:
    """Turns a lesson's dimensions into exercises: kind, variant, level and seed.

    It holds the rotations that run across the whole plan (kinds per
    dimension, variants per kind, the exercise ordinal behind every seed),
    so lessons must be asked for in plan order.
    """

    def __init__(self, req: PlanRequest, kinds: list[list[WorksheetKind]]) -> None:
        self.req = req
        self.kinds = kinds
        self.seed = req.seed
        self.base = base_level(req.age)
        self.adjust = level_adjustments(req)
        self.kind_turn = [mix64(self.seed ^ (0xC0FFEE + i)) for i in range(_N)]
        self.variant_turn: dict[str, int] = {}
        # Kinds rotate per lesson, not per exercise: a dimension that takes two
        # slots in a lesson uses one kind twice (fresh seeds), so with two kinds
        # neither is in more than about half of the lessons (issue 12, item 11).
        self.lesson_kinds: dict[int, WorksheetKind] = {}
        self.ordinal = 0

    def exercise(self, number: int, d: int, gain: int) -> Exercise:
        """The next exercise of dimension ``d`` (index into DIMENSIONS) at position ``number``."""
        kind = self.lesson_kinds.get(d)
        if kind is None:  # the dimension's first exercise in this lesson: next kind
            options = self.kinds[d]
            turn = self.kind_turn[d]
            self.kind_turn[d] = turn + 1
            kind = self.lesson_kinds[d] = options[turn % len(options)]
        key = kind.name
        variants = kind.variants_for(self.req.age, self.req.lang) or ("",)
        vturn = self.variant_turn.get(key, self.seed % 997)
        self.variant_turn[key] = vturn + 1
        spec = ExerciseSpec(
            kind=key,
            level=clamp_level(self.base + self.adjust[d] + gain),
            age=self.req.age,
            seed=self.next_seed(),
            lang=self.req.lang,
            variant=variants[vturn % len(variants)],
        )
        return Exercise(number, DIMENSIONS[d], key, spec)

    def next_seed(self) -> int:
        """A seed no other exercise of the plan has: SplitMix64 of the next ordinal."""
        seed = mix64((self.seed + self.ordinal) & _M64)
        self.ordinal += 1
        return seed

    def retest(self, baseline: Lesson, where: tuple[int, int, int, date | None]) -> Lesson:
        """A retest at ``where``: the baseline's exercises as parallel forms.

        Same kind, level, variant and age, so the results compare; a new
        seed, so the child meets a new table, maze or list rather than the
        one they already solved.
        """
        exercises = tuple(
            Exercise(
                e.number,
                e.dimension,
                e.kind,
                dataclasses.replace(e.spec, seed=self.next_seed()),
                True,
            )
            for e in baseline.exercises
        )
        return Lesson(*where, baseline.level, exercises)

    def lesson(self, where: tuple[int, int, int, date | None], dims: Sequence[int]) -> Lesson:
        """A training lesson at ``where`` = (week, number in week, index, date)."""
        week, _, index, _ = where
        gain = week_gain(week)
        order = _arrange(list(dims), mix64(self.seed + index))
        self.lesson_kinds = {}
        exercises = tuple(self.exercise(n, d, gain) for n, d in enumerate(order, start=1))
        return Lesson(*where, clamp_level(self.base + gain), exercises)


def _where(
    req: PlanRequest, index: int, offsets: Sequence[int]
) -> tuple[int, int, int, date | None]:
    """(week, number in week, index, date) of lesson ``index`` (1-based)."""
    per_week = req.lessons_per_week
    week = (index - 1) // per_week + 1
    number_in_week = index - (week - 1) * per_week
    when = (
        req.start_date + timedelta(days=7 * (week - 1) + offsets[number_in_week - 1])
        if req.start_date is not None
        else None
    )
    return week, number_in_week, index, when


def build_plan(req: PlanRequest, registry: AnyRegistry = REGISTRY) -> Plan:
    """The plan for ``req``: a pure function of the request and the registry.

    ``registry`` is the real one unless a test passes a small fake. Block by
    block (module doc): quotas, the baseline's dimensions fixed in the first
    block, then the lessons dealt and turned into exercises in plan order.
    """
    picker = _Picker(req, _kinds_by_dimension(registry, req.age))
    per_week = req.lessons_per_week
    per_lesson = exercises_per_lesson(req)
    weights = dimension_weights(req)
    retests = retest_indexes(req.weeks, per_week, per_lesson)  # both modes: a class is measured too
    offsets = day_offsets(per_week)

    so_far = [0] * _N
    baseline_dims: list[int] = []  # lesson 1's dimensions, when retests exist
    baseline: Lesson | None = None
    lessons: list[Lesson] = []

    for first_week in range(1, req.weeks + 1, block_weeks(per_week, per_lesson)):
        last_week = min(first_week + block_weeks(per_week, per_lesson) - 1, req.weeks)
        first = (first_week - 1) * per_week + 1
        last = last_week * per_week
        rank = _rank(req.seed, first_week)
        capacity = (last - first + 1) * per_lesson
        cover = capacity >= _N

        if retests and first == 1:
            # The baseline is lesson 1 as the block would deal it without any
            # fixed lessons; it is then fixed like the retests that copy it.
            owed = _quotas(capacity, [0] * _N, cover, weights, so_far, rank)
            baseline_dims = _deal(owed, 1, per_lesson, weights, rank)[0]
        n_fixed = sum(
            1 for i in range(first, last + 1) if i in retests or (i == 1 and baseline_dims)
        )
        fixed = [baseline_dims.count(d) * n_fixed for d in range(_N)]
        quota = _quotas(capacity, fixed, cover, weights, so_far, rank)
        for i in range(_N):
            so_far[i] += quota[i]
        owed = [quota[i] - fixed[i] for i in range(_N)]
        dealt = iter(_deal(owed, last - first + 1 - n_fixed, per_lesson, weights, rank))

        for index in range(first, last + 1):
            where = _where(req, index, offsets)
            if index in retests and baseline is not None:
                lessons.append(picker.retest(baseline, where))
                continue
            dims = baseline_dims if index == 1 and baseline_dims else next(dealt)
            lesson = picker.lesson(where, dims)
            if index == 1 and baseline_dims:
                baseline = lesson
            lessons.append(lesson)

    return Plan(req, tuple(lessons), req.seed, retests)
