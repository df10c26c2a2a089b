"""Lesson-prep (class) mode: procedures for a class of up to twelve children.

Why: 专注力备课模式 prepares lessons for a group, but the kinds' own
procedures are written for one child and one adult ("hold the table 30 cm
from the child", the child says the digits back). In a class plan every
exercise's "how to run and score" comes from the ``[class]`` catalogue
section instead: everyone starts together, time is read from numbers the
teacher writes on the board, answers are written rather than said, and
partners or the teacher check with the key. For digit span the teacher
reads one list to all and each child writes on an answer sheet
(``worksheets.digit_span_answers``), added beside the teacher's cards.

The group is measured like a child is: the planner gives class plans the
same baseline and retest lessons as assessment plans, and ``records`` adds
a class assessment record (a row per child) for them.
"""

from __future__ import annotations

from dataclasses import replace

from generators.archive.names import sanitize_component
from generators.plan import Exercise, Lesson, Plan
from generators.texts import catalogue, text
from generators.worksheets.base import Doc, ExerciseSpec, WorksheetKind
from generators.worksheets.digit_span_answers import DigitSpanAnswers

CLASS_SIZE = 12
"""Largest class the procedures and the class record are written for."""

ANSWER_SHEET = DigitSpanAnswers()


def is_class(plan: Plan) -> bool:
    """True for a lesson-prep plan (mode "focus"), which is taught to a group."""
    return plan.request.mode == "focus"


def class_how_to_run(kind: WorksheetKind, spec: ExerciseSpec) -> str:
    """How to run and score ``kind`` with a class; the kind's own text if none is written."""
    key = f"class.{kind.name}"
    if key not in catalogue(spec.lang):
        return kind.how_to_run(spec)
    seconds = getattr(kind, "study_seconds", None)
    return text(
        spec.lang,
        key,
        timing=text(spec.lang, "class.timing"),
        m=kind.minutes(spec),
        s=seconds(spec) if callable(seconds) else 0,
    )


def answer_sheet(plan: Plan, ex: Exercise) -> tuple[str, Doc] | None:
    """``(file name, Doc)`` of the children's answer sheet for ``ex``, if a class needs one.

    A class plan's digit-span exercise gets the sheet the children write the
    digits on while the teacher reads the cards, named after its number.
    """
    if not is_class(plan) or ex.kind != "digit_span":
        return None
    spec = replace(ex.spec, kind=ANSWER_SHEET.name)
    title = ANSWER_SHEET.title[plan.request.lang].replace("/", "_")
    return sanitize_component(f"{ex.number:02d}_{title}.svg"), ANSWER_SHEET.sheet(spec)


def answer_sheets(plan: Plan, lesson: Lesson) -> list[tuple[str, Doc]]:
    """Every answer sheet a lesson needs, in exercise order (see ``answer_sheet``)."""
    found = (answer_sheet(plan, ex) for ex in lesson.exercises)
    return [sheet for sheet in found if sheet is not None]


def measured(plan: Plan) -> tuple[Lesson, ...]:
    """The baseline and retest lessons, in order (empty when the plan has none)."""
    return () if plan.baseline is None else (plan.baseline, *plan.retest_lessons)
