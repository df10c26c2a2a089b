"""Progress record, parent summary, reward chart and certificate, materials list, and the
centre's name in every footer (issue 12, item 9).

The documents are parsed back as HTML (the standard library's parser) and
checked against the plan they describe: one record row per lesson with each
exercise in it, one parent section per week naming its homework, one star
box per lesson, a materials row per lesson whose colour column is what the
kinds say. Sizes are checked against the rendering for many plans, and the
centre's name is checked in the bytes of every entry and in the ETag.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generators.archive import resolve
from generators.branding import branded, check_centre
from generators.entries import build_archive, plan_entries
from generators.homework import homework_exercise
from generators.plan import Plan, build_plan
from generators.records import needs_colour, record_docs, teacher_page
from generators.request import PlanRequest
from generators.texts import text
from generators.worksheets import REGISTRY
from generators.worksheets.base import Doc

CJK = re.compile(r"[\u2e80-\U0002ffff]")


class Tables(HTMLParser):
    """Every <tbody> row as a list of cell texts, the <section>s' texts, and class="star" boxes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.sections: list[str] = []
        self.stars: list[str] = []
        self.text: list[str] = []
        self._in_body = False
        self._cell: list[str] | None = None
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "section":
            self.sections.append("")
        elif tag == "div" and cls == "star":
            self.stars.append("")
        if tag == "div":
            self._stack.append(cls)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "div" and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self.sections:
            self.sections[-1] += data
        if self._stack and self._stack[-1] == "star":
            self.stars[-1] += data


def parse(doc: Doc) -> Tables:
    data = doc.render()
    assert len(data) == doc.size
    p = Tables()
    p.feed(data.decode("utf-8"))
    return p


def plan_of(mode: str = "assessment", lang: str = "zh", weeks: int = 4, age: int = 8) -> Plan:
    scores = {"span": 30, "sustained": 60, "selective": 80} if mode == "assessment" else {}
    req = PlanRequest.from_mapping(
        {
            "name": "王小明",
            "mode": mode,
            "age": age,
            "weeks": weeks,
            "scores": scores,
            "lang": lang,
            "start_date": "2026-09-07",
        }
    )
    return build_plan(req)


def docs_of(plan: Plan, centre: str = "") -> dict[str, Doc]:
    return dict(record_docs(plan, centre))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_progress_record_has_a_row_per_lesson_with_each_exercise(lang: str) -> None:
    plan = plan_of(lang=lang)
    t = parse(docs_of(plan)[text(lang, "names.record_doc")])
    assert len(t.rows) == len(plan.lessons)
    width = max(len(ls.exercises) for ls in plan.lessons)
    for row, lesson in zip(t.rows, plan.lessons, strict=True):
        assert len(row) == 2 + width + 1  # lesson, date, exercises, teacher's note
        assert str(lesson.index) in row[0]
        assert row[1] == lesson.date.isoformat()  # type: ignore[union-attr]
        for cell, ex in zip(row[2:], lesson.exercises, strict=False):
            assert REGISTRY[ex.kind].title_for(ex.spec) in cell and str(ex.spec.level) in cell
        assert row[-1] == ""  # the note is for the teacher to write
    retest = text(lang, "records.retest").strip(" ()（）")
    assert sum(retest in row[0] for row in t.rows) == len(plan.retest_lessons)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_parent_summary_per_week_names_the_homework_and_promises_no_grades(lang: str) -> None:
    plan = plan_of(lang=lang)
    t = parse(docs_of(plan)[text(lang, "names.parent_doc")])
    assert len(t.sections) == plan.weeks
    for (_week, lessons), section in zip(plan.by_week(), t.sections, strict=True):
        for lesson in lessons:
            hw = homework_exercise(plan, lesson)
            if hw is not None:
                assert REGISTRY[hw.kind].title_for(hw.spec) in section
        for dim in {e.dimension for ls in lessons for e in ls.exercises}:
            assert text(lang, f"dimension.{dim}.name") in section
    body = "".join(t.text)
    assert text(lang, "records.parent_caveat") in body
    # grades are named only where the plan says it does not promise them
    rest = body.replace(text(lang, "records.parent_caveat"), "")
    rest = rest.replace(text(lang, "records.footer"), "")
    assert "成绩" not in rest and "grade" not in rest.lower()


def test_reward_chart_has_a_box_per_lesson_and_a_certificate() -> None:
    plan = plan_of(weeks=3)
    t = parse(docs_of(plan)[text("zh", "names.reward_doc")])
    assert len(t.stars) == len(plan.lessons)
    for star, lesson in zip(t.stars, plan.lessons, strict=True):
        assert str(lesson.index) in star and lesson.date.isoformat() in star  # type: ignore[union-attr]
    cert = t.sections[-1]
    assert "王小明" in cert and f"{len(plan.lessons)}" in cert and "3" in cert


@pytest.mark.parametrize(("mode", "age"), [("focus", 5), ("assessment", 8), ("focus", 12)])
def test_materials_list_counts_copies_and_names_the_colour_sheets(mode: str, age: int) -> None:
    plan = plan_of(mode=mode, age=age, weeks=6)
    t = parse(docs_of(plan)[text("zh", "names.materials_doc")])
    assert len(t.rows) == len(plan.lessons)
    total = 0
    for row, lesson in zip(t.rows, plan.lessons, strict=True):
        child = [e for e in lesson.exercises if not teacher_page(REGISTRY[e.kind], e.spec)]
        home = 0 if homework_exercise(plan, lesson) is None else 1
        assert row[1] == text("zh", "records.child_count", n=len(child), h=home)
        assert int(row[2]) == len(lesson.exercises) * 2 - len(child)  # keys + teacher pages
        colour = [e for e in lesson.exercises if needs_colour(REGISTRY[e.kind], e.spec)]
        if colour:
            for e in colour:
                assert f"{e.number:02d} {REGISTRY[e.kind].title_for(e.spec)}" in row[3]
        else:
            assert row[3] == text("zh", "records.none")
        total += len(child) + home
    body = "".join(t.text)
    assert text("zh", "records.total", n=total) in body
    assert text("zh", "records.need_timer") in body
    note = "class_note" if mode == "focus" else "child_note"
    assert text("zh", f"records.{note}") in body


@settings(max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(("focus", "assessment")),
    lang=st.sampled_from(("zh", "en")),
    weeks=st.integers(1, 12),
    age=st.integers(4, 14),
    centre=st.sampled_from(("", "阳光少儿中心", "Bright Kids <Centre> & Co")),
)
def test_record_documents_are_size_stable(
    mode: str, lang: str, weeks: int, age: int, centre: str
) -> None:
    plan = plan_of(mode=mode, lang=lang, weeks=weeks, age=age)
    for name, doc in record_docs(plan, centre):
        data = doc.render()
        assert len(data) == doc.size and data == doc.render()
        if lang == "en":  # no CJK in an English plan except the child's name
            assert not CJK.search(name)
            free = data.decode().replace(plan.request.name, "").replace(centre, "")
            assert not CJK.search(free)


def _zip(archive: object) -> zipfile.ZipFile:
    data = b"".join(resolve(archive.layout.pieces()))  # type: ignore[attr-defined]
    assert len(data) == archive.layout.total_size  # type: ignore[attr-defined]
    return zipfile.ZipFile(BytesIO(data))


def test_centre_name_in_every_footer_and_in_the_etag() -> None:
    req = plan_of(mode="focus", weeks=1).request
    plain, branded_ = build_archive(req), build_archive(req, centre="阳光少儿中心")
    assert plain.etag != branded_.etag
    assert build_archive(req, centre="阳光少儿中心").etag == branded_.etag
    assert build_archive(req, centre="星星中心").etag != branded_.etag
    with _zip(plain) as z:
        for n in z.namelist():
            body = z.read(n)
            assert b"planstream" not in body and "阳光少儿中心".encode() not in body, n
    with _zip(branded_) as z:
        assert z.testzip() is None
        for n in z.namelist():
            assert "阳光少儿中心".encode() in z.read(n), n


def test_branding_escapes_and_checks() -> None:
    plan = plan_of(mode="focus", weeks=1)
    entries = plan_entries(plan, centre="A<B>&C")
    sheet = next(e for e in entries if e.name.endswith(".svg"))
    data = sheet.source.render()  # type: ignore[attr-defined]
    assert b"A&lt;B&gt;&amp;C \xc2\xb7 " in data and len(data) == sheet.source.size
    import xml.etree.ElementTree as ET

    ET.fromstring(data)  # still well-formed
    assert check_centre("  阳光   中心 ") == "阳光 中心"
    with pytest.raises(ValueError):
        check_centre("x" * 61)
    with pytest.raises(ValueError):
        check_centre("a\x07b")
    with pytest.raises(ValueError):
        branded(Doc(3, lambda: b"abc", "txt"), "X")


def test_cli_centre_name(tmp_path: Path) -> None:
    out = tmp_path / "plan.zip"
    args = [sys.executable, "-m", "generators", "--name", "A", "--mode", "focus", "--age", "9"]
    done = subprocess.run(
        [*args, "--centre-name", "Bright Kids", "-o", str(out)], capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as z:
        sheet = next(n for n in z.namelist() if n.endswith(".svg"))
        assert b"Bright Kids \xc2\xb7 " in z.read(sheet)
    bad = subprocess.run([*args, "--centre-name", "x" * 61, "-o", str(out)], capture_output=True)
    assert bad.returncode == 2 and b"centre-name" in bad.stderr
