"""Lesson-prep (class) mode works for a class of up to twelve (issue 12, item 10).

Checks on generated class plans (ages 4-14, zh and en): every procedure in a
lesson plan is the class version (no "hold the table 30 cm from the child"),
the teacher's digit-span cards come with an answer sheet per child whose key
matches the cards, and the class gets a baseline and retests with a record
that has a row per child.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from generators.classmode import ANSWER_SHEET, CLASS_SIZE, class_how_to_run
from generators.entries import plan_entries
from generators.lessons import lesson_doc
from generators.plan import build_plan
from generators.request import PlanRequest
from generators.texts import catalogue, text
from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec

from .test_records import parse

ONE_CHILD = ("30–40 厘米", "孩子眼前", "30–40 cm", "from the child", "the child says")


def class_plan(age: int, lang: str, weeks: int = 4) -> object:
    return build_plan(
        PlanRequest.from_mapping(
            {"name": "三年级二班", "mode": "focus", "age": age, "weeks": weeks, "lang": lang}
        )
    )


def test_every_kind_has_a_class_procedure_in_both_languages() -> None:
    for lang in ("zh", "en"):
        for name in REGISTRY:
            assert f"class.{name}" in catalogue(lang), (lang, name)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("age", [4, 6, 8, 10, 12, 14])
def test_class_lesson_plans_use_group_procedures(age: int, lang: str) -> None:
    plan = class_plan(age, lang)
    assert plan.baseline is plan.lessons[0] and plan.retest_lessons  # the group is measured
    for lesson in plan.lessons:
        page = html.unescape(lesson_doc(plan, lesson).render().decode())
        for phrase in ONE_CHILD:
            assert phrase not in page, (lesson.index, phrase)
        for ex in lesson.exercises:
            kind = REGISTRY[ex.kind]
            seedless = replace(ex.spec, seed=0)
            assert class_how_to_run(kind, seedless) in page
            assert "{" not in class_how_to_run(kind, seedless)
    baseline = html.unescape(lesson_doc(plan, plan.lessons[0]).render().decode())
    assert text(lang, "names.class_record_doc") in baseline


def test_assessment_plans_keep_the_one_child_procedures() -> None:
    plan = build_plan(
        PlanRequest.from_mapping(
            {
                "name": "A",
                "mode": "assessment",
                "age": 9,
                "weeks": 2,
                "scores": {"span": 20, "sustained": 50, "selective": 60},
            }
        )
    )
    for lesson in plan.lessons:
        page = html.unescape(lesson_doc(plan, lesson).render().decode())
        for ex in lesson.exercises:
            assert REGISTRY[ex.kind].how_to_run(replace(ex.spec, seed=0)) in page


def _answers(svg: bytes, tag: str, attr: str) -> dict[int, str]:
    root = ET.fromstring(svg)
    out: dict[int, str] = {}
    for el in root.iter(f"{{http://www.w3.org/2000/svg}}{tag}"):
        if el.get("data-card") and el.get(attr) is not None:
            out[int(el.get("data-card", ""))] = el.get(attr, "")
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_digit_span_in_class_comes_with_an_answer_sheet_per_child(lang: str) -> None:
    found = 0
    for age in (5, 9, 13):
        plan = class_plan(age, lang, weeks=2)
        entries = plan_entries(plan)
        names = [e.name for e in entries]
        for lesson in plan.lessons:
            for ex in lesson.exercises:
                if ex.kind != "digit_span":
                    continue
                found += 1
                title = ANSWER_SHEET.title[lang]
                assert any(n.endswith(f"/{ex.number:02d}_{title}.svg") for n in names)
                spec = replace(ex.spec, kind=ANSWER_SHEET.name)
                sheet = ANSWER_SHEET.sheet(spec).render()
                root = ET.fromstring(sheet)
                boxes: dict[int, int] = {}
                for el in root.iter("{http://www.w3.org/2000/svg}rect"):
                    if el.get("data-card"):
                        card = int(el.get("data-card", ""))
                        boxes[card] = boxes.get(card, 0) + 1
                expected = _answers(
                    REGISTRY["digit_span"].answer_key(ex.spec).render(), "text", "data-answer"
                )
                key = ET.fromstring(ANSWER_SHEET.answer_key(spec).render())
                written: dict[int, str] = {}
                for el in key.iter("{http://www.w3.org/2000/svg}text"):
                    if el.get("data-pos") is not None:
                        card = int(el.get("data-card", ""))
                        written[card] = written.get(card, "") + "".join(el.itertext())
                assert written == expected  # the key shows what the cards expect
                assert boxes == {c: len(a) for c, a in expected.items()}  # a box per digit
    assert found


def test_answer_sheet_size_is_exact_for_every_parameter_tuple() -> None:
    for variant in ("", *ANSWER_SHEET.variants):
        for level in range(1, MAX_LEVEL + 1):
            for age in range(4, 15):
                for lang in ("zh", "en"):
                    spec = ExerciseSpec(
                        ANSWER_SHEET.name, level, age, level * 7919 + age, lang, variant
                    )
                    for doc in (ANSWER_SHEET.sheet(spec), ANSWER_SHEET.answer_key(spec)):
                        assert len(doc.render()) == doc.size


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_class_record_has_a_row_per_child_for_baseline_and_each_retest(lang: str) -> None:
    from generators.records import record_docs

    plan = class_plan(8, lang, weeks=6)
    docs = dict(record_docs(plan))
    t = parse(docs[text(lang, "names.class_record_doc")])
    measured = (plan.baseline, *plan.retest_lessons)
    assert len(t.sections) == len(measured) >= 2
    assert len(t.rows) == CLASS_SIZE * len(measured)
    for i, lesson in enumerate(measured):
        for row in t.rows[i * CLASS_SIZE : (i + 1) * CLASS_SIZE]:
            assert len(row) == 1 + len(lesson.exercises)  # type: ignore[union-attr]
    single = build_plan(
        PlanRequest.from_mapping(
            {
                "name": "A",
                "mode": "assessment",
                "age": 8,
                "weeks": 6,
                "scores": {"span": 20, "sustained": 50, "selective": 60},
            }
        )
    )
    assert text(lang, "names.class_record_doc") not in dict(record_docs(single))
