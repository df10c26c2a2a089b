"""English plans are in English: over many generated plans (ages 4-14, both modes),
no CJK character anywhere in an English archive except the child's name,
Latin-first fonts, singular where there is one, and the title of the task drawn.
"""

from __future__ import annotations

import re

import pytest

from generators.archive import ProducerSource
from generators.entries import build_archive
from generators.request import PlanRequest
from tests.generators.test_texts import CJK

NAME = "Lin 林"
"""A child's name with a 汉字 in it: the one CJK text an English plan may hold."""

_SCORES = (
    {"span": 5, "sustained": 95, "selective": 40},
    {"shifting": 30, "divided": 80, "auditory": 60, "working_memory": 10, "visual_tracking": 70},
)


def _requests() -> list[PlanRequest]:
    out = []
    for age in range(4, 15):
        for mode in ("assessment", "focus"):
            out.append(
                PlanRequest(
                    name=NAME,
                    mode=mode,
                    age=age,
                    weeks=2 + age % 3,
                    lessons_per_week=1 + age % 3,
                    exercises_per_lesson=3 + age % 5,
                    scores=_SCORES[age % 2] if mode == "assessment" else {},
                    lang="en",
                )
            )
    return out


def _documents(req: PlanRequest) -> list[tuple[str, str]]:
    out = []
    for entry in build_archive(req).layout.entries:
        assert isinstance(entry.source, ProducerSource)
        out.append((entry.name, entry.source.render().decode("utf-8")))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("req", _requests(), ids=lambda r: f"{r.mode}-{r.age}")
def test_an_english_plan_has_no_cjk_but_the_name(req: PlanRequest) -> None:
    kinds = set()
    for name, body in _documents(req):
        where = {m.group() for m in CJK.finditer(name.replace(NAME, ""))}
        assert not where, (name, where)
        found = CJK.search(body.replace(NAME, ""))
        assert found is None, (name, body[max(0, found.start() - 60) : found.end() + 60])
        kinds.update(re.findall(r'data-kind="(\w+)"', body))
        # Latin fonts first, in sheets and in lesson documents
        families = re.findall(r"font-family:'([^']+)'", body)
        assert families and all(f == "Helvetica Neue" for f in families), (name, families)
        for wrong in re.findall(r"\b1 (?:exercises|lessons|weeks|targets|claps)\b", body):
            pytest.fail(f"{name}: plural after 1: {wrong}")
        assert "Targets:</text>" not in body or 'data-role="target-sample"' in body
    assert kinds  # the plan had sheets


def test_the_checks_would_see_chinese() -> None:
    req = PlanRequest(name="Lin", mode="focus", age=9, weeks=1, lang="zh")
    bodies = [body for _, body in _documents(req)]
    assert all(CJK.search(body) for body in bodies)
    assert all(
        "font-family:'Noto Sans CJK SC'" in b or "font-family:'PingFang SC'" in b for b in bodies
    )


def test_singular_forms() -> None:
    req = PlanRequest(name="Sam", mode="focus", age=9, weeks=1, lessons_per_week=1, lang="en")
    overview = dict(_documents(req))[f"{req.archive_root}/index.html"]
    assert "1 week · 1 lesson a week · 7 exercises a lesson · 1 lesson" in overview


def test_one_target_says_target() -> None:
    from generators.worksheets import REGISTRY, ExerciseSpec

    kind = REGISTRY["hanzi_cancellation"]
    one = kind.sheet(ExerciseSpec("hanzi_cancellation", 2, 9, 5, "en", "")).render()
    two = kind.sheet(ExerciseSpec("hanzi_cancellation", 9, 9, 5, "en", "")).render()
    assert b">Target:</text>" in one and b">Targets:</text>" in two


def test_sheets_are_titled_by_the_task_drawn() -> None:
    from generators.worksheets import REGISTRY, ExerciseSpec

    stroop = REGISTRY["stroop"]
    sun = stroop.sheet(ExerciseSpec("stroop", 1, 5, 3, "en", "daynight")).render().decode()
    words = stroop.sheet(ExerciseSpec("stroop", 1, 9, 3, "en", "words")).render().decode()
    assert "Day and night" in sun and "Colour–word" not in sun
    assert "Colour–word Stroop" in words
    look = REGISTRY["hanzi_cancellation"]
    assert look.variants_for(9, "en") == ("letters",)
    assert look.variant_of(ExerciseSpec("hanzi_cancellation", 1, 9, 3, "en", "hanzi")) == "letters"
    schulte = REGISTRY["schulte"]
    assert "hanzi" not in schulte.variants_for(10, "en")
    assert "letters" not in schulte.variants_for(6, "zh")  # no Latin letters before 7 in zh
