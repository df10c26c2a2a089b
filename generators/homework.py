"""Homework: a fresh sheet of one of the lesson's kinds, never the one written on in class.

Why a new sheet: the class sheet has the child's marks on it (a traced maze,
circled targets), so "do it again at home" repeats an answer, not the task.
The homework exercise is the chosen class exercise with another seed: same
kind, level, variant and time box, new content, so the time a parent writes
down compares with the class time. The seed is SplitMix64 of the class seed
with a fixed salt, so it is as deterministic as every other sheet, and the
homework files sit in the lesson folder's ``家庭作业/`` (``Homework/``).

Which exercise: in assessment mode the one of the weakest dimension (the
highest slot weight; the first on a tie), in lesson-prep mode a rotating one,
so a class takes home each kind in turn. Retest lessons have no homework
sheet: the retest is compared with the baseline instead.
"""

from __future__ import annotations

from dataclasses import replace

from generators.archive.names import sanitize_component
from generators.dimensions import DIMENSIONS
from generators.plan import Exercise, Lesson, Plan, dimension_weights, mix64
from generators.texts import text

HOMEWORK_SALT = 0x484F4D45574F524B  # "HOMEWORK"


def homework_index(plan: Plan, lesson: Lesson) -> int | None:
    """Position (0-based) of the class exercise whose kind goes home, or None (retests)."""
    if lesson.is_retest or not lesson.exercises:
        return None
    exercises = lesson.exercises
    if plan.request.mode == "assessment":
        weights = dict(zip(DIMENSIONS, dimension_weights(plan.request), strict=True))
        return max(range(len(exercises)), key=lambda i: (weights[exercises[i].dimension], -i))
    return (lesson.index - 1) % len(exercises)


def homework_exercise(plan: Plan, lesson: Lesson) -> Exercise | None:
    """The lesson's homework: its chosen exercise with a new seed (see module doc)."""
    i = homework_index(plan, lesson)
    if i is None:
        return None
    ex = lesson.exercises[i]
    spec = replace(ex.spec, seed=mix64(ex.spec.seed ^ HOMEWORK_SALT))
    return Exercise(ex.number, ex.dimension, ex.kind, spec)


def homework_folder(lang: str) -> str:
    """The homework folder inside a lesson folder: ``家庭作业`` / ``Homework``."""
    return sanitize_component(text(lang, "names.homework_folder"))
