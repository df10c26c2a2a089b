"""Age fit, over generated plans: Schulte tables 5x5 from 7 with time limits near the
norms, no day-night Stroop after 8, category listening at 11-14, the young-children
forms at 4-5, and no Latin letters on Chinese sheets before 7."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from generators import texts
from generators.archive import ProducerSource
from generators.entries import build_archive
from generators.lessons import lesson_doc
from generators.plan import Plan, build_plan
from generators.request import PlanRequest
from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec

NS = "{http://www.w3.org/2000/svg}"


def _plan(age: int, lang: str = "zh", weeks: int = 12, **kw: object) -> Plan:
    fields: dict[str, object] = {
        "name": "Wu",
        "mode": "focus",
        "age": age,
        "weeks": weeks,
        "lang": lang,
    }
    fields.update(kw)
    return build_plan(PlanRequest(**fields))  # type: ignore[arg-type]


def _exercises(plan: Plan, kind: str) -> list[ExerciseSpec]:
    return [e.spec for lesson in plan.lessons for e in lesson.exercises if e.kind == kind]


def test_schulte_is_5x5_from_seven_with_a_time_limit_near_the_norm() -> None:
    kind = REGISTRY["schulte"]
    for age in range(4, 15):
        for level in range(1, MAX_LEVEL + 1):
            spec = ExerciseSpec("schulte", level, age, 0, "zh", "digits")
            n = kind.size_n(spec)
            assert (n >= 5) if age >= 7 else (n <= 4), (age, level, n)
            if n == 5:
                assert 25 <= kind.limit_s(spec) <= 60, (age, kind.limit_s(spec))
    for age in (7, 10, 14):
        specs = _exercises(_plan(age), "schulte")
        assert specs
        for spec in specs:
            sheet = kind.sheet(spec).render().decode()
            assert f"限时 {kind.limit_s(spec)} 秒" in sheet  # seconds, not 2-3 minutes


def test_no_day_night_stroop_after_eight() -> None:
    stroop = REGISTRY["stroop"]
    for age in range(9, 15):
        specs = _exercises(_plan(age, weeks=8), "stroop")
        assert specs, age
        assert {stroop.variant_of(s) for s in specs} == {"words"}, age
        assert stroop.variant_of(ExerciseSpec("stroop", 1, age, 0, "zh", "daynight")) == "words"
    assert "daynight" in {stroop.variant_of(s) for s in _exercises(_plan(5), "stroop")}


def test_listening_at_eleven_to_fourteen_is_not_single_sound_spotting() -> None:
    kind = REGISTRY["auditory_script"]
    for age in (11, 14):
        for lang in ("zh", "en"):
            rule = texts.text(lang, "kind.auditory_script.category_rule")
            targets = [
                s
                for s in _exercises(_plan(age, lang), "auditory_script")
                if kind.variant_of(s) == "target"
            ]
            assert targets, (age, lang)
            for spec in targets:
                assert rule in kind.sheet(spec).render().decode()
                assert "猫" not in kind.sheet(spec).render().decode()
    young = ExerciseSpec("auditory_script", 3, 9, 1, "zh", "target")
    assert (
        texts.text("zh", "kind.auditory_script.category_rule")
        not in kind.sheet(young).render().decode()
    )


@pytest.mark.parametrize("age", [4, 5])
def test_young_children_get_short_lessons_read_aloud_and_nothing_to_write(age: int) -> None:
    for lang in ("zh", "en"):
        plan = _plan(age, lang, weeks=4, exercises_per_lesson=8)
        assert max(len(lesson.exercises) for lesson in plan.lessons) <= 4
        marker = texts.text(lang, "page.read_aloud")
        for lesson in plan.lessons:
            for ex in lesson.exercises:
                kind = REGISTRY[ex.kind]
                assert marker in kind.sheet(ex.spec).render().decode()
                words = kind.instructions(ex.spec).lower()
                assert "写" not in words and "write" not in words, (ex.kind, words)
        doc = lesson_doc(plan, plan.lessons[0]).render().decode()
        assert texts.text(lang, "doc.review_text_young").split("（")[0].split(" (")[0][:12] in doc
        assert texts.text(lang, "doc.review_text")[:12] not in doc
    dual = REGISTRY["dual_task"]
    clap = ExerciseSpec("dual_task", 2, age, 0, "zh", "clap")
    assert "按自己的节奏" in dual.how_to_run(clap)
    older = ExerciseSpec("dual_task", 2, 8, 0, "zh", "clap")
    assert "按自己的节奏" not in dual.how_to_run(older)
    assert texts.text("zh", "page.read_aloud") not in dual.sheet(older).render().decode()


def _svg_texts(data: bytes) -> list[str]:
    """Every text of a sheet, less the sheet code (a matching code for the teacher) and
    the footer (its brand is issue 12 item 9's)."""
    root = ET.fromstring(data)
    code = root.get("data-code", "")
    out = ["".join(el.itertext()) for el in root.iter(f"{NS}text") if el.get("class") != "f"]
    out += ["".join(el.itertext()) for el in root.iter(f"{NS}title")]
    return [line.replace(code, "") for line in out]


@pytest.mark.parametrize("age", [4, 5, 6])
def test_no_latin_letters_on_chinese_sheets_before_seven(age: int) -> None:
    req = PlanRequest(name="吴", mode="focus", age=age, weeks=4, lessons_per_week=3)
    seen = set()
    for entry in build_archive(req).layout.entries:
        if not entry.name.endswith(".svg"):
            continue
        assert isinstance(entry.source, ProducerSource)
        data = entry.source.render()
        seen.add(re.search(rb'data-kind="(\w+)"', data).group(1))  # type: ignore[union-attr]
        for line in _svg_texts(data):
            assert not re.search("[A-Za-z]", line), (entry.name, line)
    assert b"tangled_lines" in seen or age == 4
    for age_ok in (7, 9):
        tangled = ExerciseSpec("tangled_lines", 3, age_ok, 0, "zh", "")
        assert "→A" in "".join(_svg_texts(REGISTRY["tangled_lines"].answer_key(tangled).render()))
