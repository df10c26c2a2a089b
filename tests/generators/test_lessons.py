"""Lesson plans and the overview: valid, self-contained, size-exact HTML; shared file names."""

from __future__ import annotations

import itertools
import re
import time
import xml.etree.ElementTree as ET
from datetime import date
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from hypothesis import given, settings

from generators import lessons as lessons_module
from generators.lessons import (
    answer_key_filename,
    exercise_filename,
    lesson_doc,
    lesson_doc_filename,
    lesson_folder,
    overview_doc,
)
from generators.plan import Plan, build_plan
from generators.request import PlanRequest
from generators.worksheets.base import Registry
from tests.generators.plan_support import REGISTRY, FakeKind, requests

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uf900-\ufaff\uff00-\uffef]")
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


def make_plan(**fields: object) -> Plan:
    base: dict[str, object] = {
        "name": "小明",
        "mode": "assessment",
        "age": 8,
        "weeks": 4,
        "scores": {"span": 20, "sustained": 90, "selective": 60},
        "start_date": date(2025, 3, 3),
    }
    base.update(fields)
    if base["mode"] == "focus":
        base["scores"] = {}
    return build_plan(PlanRequest(**base), REGISTRY)  # type: ignore[arg-type]


class Structure(HTMLParser):
    """Checks that every element closes in order and collects what the tests look for."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}
        self.classes: set[str] = set()
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        attributes = dict(attrs)
        self.classes.update((attributes.get("class") or "").split())
        if tag == "a":
            self.hrefs.append(attributes.get("href") or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(data: bytes) -> Structure:
    text = data.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    parser = Structure()
    parser.feed(text)
    parser.close()
    assert not parser.errors, parser.errors[:3]
    assert parser.stack == [], parser.stack
    assert parser.tags["html"] == parser.tags["head"] == parser.tags["body"] == 1
    return parser


def assert_self_contained(data: bytes) -> None:
    lowered = data.lower()
    for needle in (b"http://", b"https://", b"src=", b"@import", b"url(", b"<script", b"<link"):
        assert needle not in lowered, needle


def rendered(doc) -> bytes:  # type: ignore[no-untyped-def]
    data = doc.render()
    assert len(data) == doc.size and doc.ext == "html"
    return data


# -- names -----------------------------------------------------------------------------------


def test_folder_and_file_names() -> None:
    plan = make_plan(weeks=12, lessons_per_week=3)
    lesson = plan.lessons[13]  # week 5, lesson 2
    assert lesson_folder(lesson, "zh") == "第05周/第02课"
    assert lesson_folder(lesson, "en") == "Week 05/Lesson 02"
    ex = lesson.exercises[2]
    title = REGISTRY[ex.kind].title
    assert exercise_filename(ex, REGISTRY, "zh") == f"03_{title['zh']}.svg"
    assert exercise_filename(ex, REGISTRY, "en") == f"03_{title['en']}.svg"
    assert answer_key_filename(ex, REGISTRY, "zh") == f"答案/03_{title['zh']}_答案.svg"
    assert answer_key_filename(ex, REGISTRY, "en") == f"Answers/03_{title['en']}_key.svg"
    assert lesson_doc_filename("zh") == "教案.html"
    assert lesson_doc_filename("en") == "Lesson plan.html"


def test_titles_are_made_safe_for_file_names() -> None:
    odd = FakeKind("fake_span", "span", {"zh": "甲/乙", "en": 'A/B: "x"?'})
    registry = Registry(odd if k == "fake_span" else v for k, v in REGISTRY.items())
    plan = build_plan(
        PlanRequest(name="A", mode="focus", age=6, weeks=1, exercises_per_lesson=8), registry
    )
    ex = next(e for e in plan.lessons[0].exercises if e.kind == "fake_span")
    for lang in ("zh", "en"):
        name = exercise_filename(ex, registry, lang)
        assert "/" not in name and not set('\\:*?"<>|') & set(name)


# -- lesson plans --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lesson_doc_content(lang: str) -> None:
    plan = make_plan(lang=lang, name="Tom")
    lesson = plan.lessons[1]
    data = rendered(lesson_doc(plan, lesson, REGISTRY))
    assert_self_contained(data)
    page = parse(data)
    assert {"timeline", "ex", "files", "meta"} <= page.classes
    assert page.tags["table"] == 1 and page.tags["h3"] == len(lesson.exercises)
    text = data.decode()
    assert "@media print" in text and "size:A4" in text and "page-break" in text
    assert "2025-03-05" in text  # the lesson's date
    for ex in lesson.exercises:
        kind = REGISTRY[ex.kind]
        assert exercise_filename(ex, REGISTRY, lang) in text
        assert answer_key_filename(ex, REGISTRY, lang) in text
        # Kind texts are escaped (the fake's how-to holds "<" and "&").
        assert (
            kind.how_to_run(ex.spec).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            in text
        )
    timeline_rows = len(lesson.exercises) + 4  # warm-up, break, review, homework
    assert page.tags["tr"] == timeline_rows + 1  # plus the header row
    if lang == "en":
        assert not CJK.search(text.replace("Tom", "")), CJK.findall(text)[:5]


def test_timeline_adds_up() -> None:
    plan = make_plan()
    lesson = plan.lessons[1]
    text = rendered(lesson_doc(plan, lesson, REGISTRY)).decode()
    spans = [(int(a), int(b)) for a, b in re.findall(r"(\d+)–(\d+) 分钟", text)]
    assert spans[0][0] == 0
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(spans))
    minutes = sum(REGISTRY[e.kind].minutes(e.spec) for e in lesson.exercises)
    assert spans[-1][1] == minutes + 3 + 2 + 3 + 2
    assert f"约 {spans[-1][1]} 分钟" in text


def test_baseline_and_retest_lessons_say_so() -> None:
    plan = make_plan(weeks=4, lessons_per_week=3)
    baseline = rendered(lesson_doc(plan, plan.lessons[0], REGISTRY)).decode()
    assert "基线" in baseline and "第 6 课和第 12 课" in baseline
    retest = rendered(lesson_doc(plan, plan.lessons[5], REGISTRY)).decode()
    assert "复测课" in retest
    for text in (baseline, retest):
        page = parse(text.encode())
        assert "record" in page.classes
    ordinary = rendered(lesson_doc(plan, plan.lessons[1], REGISTRY)).decode()
    assert "record" not in parse(ordinary.encode()).classes


def test_names_are_escaped() -> None:
    plan = make_plan(name="A & B's 'class'")
    text = rendered(lesson_doc(plan, plan.lessons[0], REGISTRY)).decode()
    assert "A &amp; B&#x27;s" in text and "A & B" not in text


@settings(max_examples=25, deadline=None)
@given(requests(max_weeks=6))
def test_sizes_are_exact_and_documents_valid(req: PlanRequest) -> None:
    plan = build_plan(req, REGISTRY)
    for lesson in plan.lessons:
        doc = lesson_doc(plan, lesson, REGISTRY)
        data = rendered(doc)
        assert doc.render() == data  # the same bytes every time
        parse(data)
        assert_self_contained(data.replace(req.name.encode(), b""))
    data = rendered(overview_doc(plan, REGISTRY))
    parse(data)


def test_render_refuses_to_break_its_size() -> None:
    calls = iter([["<html>", "a", "</html>"], ["<html>", "ab", "</html>"]])
    doc = lessons_module._doc(lambda: next(calls))
    with pytest.raises(ValueError, match="promised"):
        doc.render()


# -- overview --------------------------------------------------------------------------------------


def _chart(text: str) -> ET.Element:
    start, end = text.index("<svg"), text.index("</svg>") + len("</svg>")
    return ET.fromstring(text[start:end])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_assessment(lang: str) -> None:
    plan = make_plan(lang=lang, name="Tom")
    data = rendered(overview_doc(plan, REGISTRY))
    assert_self_contained(data)
    page = parse(data)
    text = data.decode()
    chart = _chart(text)
    assert chart.tag == "svg"
    assert len(chart.findall("rect")) == 3  # one bar per assessed dimension
    assert len(page.hrefs) == len(plan.lessons)
    doc_name = lesson_doc_filename(lang)
    assert unquote(page.hrefs[0]) == f"{lesson_folder(plan.lessons[0], lang)}/{doc_name}"
    assert ("测评结果模式" if lang == "zh" else "Assessment results mode") in text
    assert ("不承诺提高学习成绩" if lang == "zh" else "no promise about school grades") in text
    if lang == "en":
        assert not CJK.search(text.replace("Tom", "")), CJK.findall(text)[:5]


def test_overview_focus_chart_shows_balance() -> None:
    plan = make_plan(mode="focus", name="三年级二班")
    text = rendered(overview_doc(plan, REGISTRY)).decode()
    bars = _chart(text).findall("rect")
    assert len(bars) == 8
    counts = plan.dimension_counts()
    widths = [float(bar.get("width", "0")) for bar in bars]
    assert (
        max(widths) == 320.0
        and min(widths) >= 320 * min(counts.values()) / max(counts.values()) - 1
    )
    assert "专注力备课模式" in text and "三年级二班" in text


def test_schedule_lists_every_lesson() -> None:
    plan = make_plan(weeks=2, lessons_per_week=2, start_date=None)
    page = parse(rendered(overview_doc(plan, REGISTRY)))
    assert page.hrefs == [
        "%E7%AC%AC01%E5%91%A8/%E7%AC%AC01%E8%AF%BE/%E6%95%99%E6%A1%88.html",
        "%E7%AC%AC01%E5%91%A8/%E7%AC%AC02%E8%AF%BE/%E6%95%99%E6%A1%88.html",
        "%E7%AC%AC02%E5%91%A8/%E7%AC%AC01%E8%AF%BE/%E6%95%99%E6%A1%88.html",
        "%E7%AC%AC02%E5%91%A8/%E7%AC%AC02%E8%AF%BE/%E6%95%99%E6%A1%88.html",
    ]


# -- speed -----------------------------------------------------------------------------------------


def _best_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(20):
            fn()
        best = min(best, (time.perf_counter() - start) / 20)
    return best * 1000


def test_lesson_doc_speed() -> None:
    plan = make_plan(exercises_per_lesson=10)
    lesson = plan.lessons[2]
    doc = lesson_doc(plan, lesson, REGISTRY)
    assert _best_ms(lambda: lesson_doc(plan, lesson, REGISTRY), 5) < 0.5
    assert _best_ms(doc.render, 5) < 0.5
