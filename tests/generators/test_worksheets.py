"""Worksheet registry and the size-stable rendering contract.

The archive announces every document's size before drawing it, so the core
property is ``len(doc.render()) == doc.size`` for every kind, variant, level,
age, language and seed; hypothesis searches the seed space, and a sweep covers
every parameter tuple the size cache can hold. Also: valid XML, the A4 viewBox,
byte-for-byte determinism (in this process and in another with a different
hash seed), different bytes for different seeds, light Doc objects, header
text that fits, and no file access while rendering.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators.dimensions import DIMENSIONS
from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec, kinds_for
from generators.worksheets.page import MAX_AGE, MIN_AGE, Kind, sheet_code

NS = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[2]
KINDS: list[Kind] = list(REGISTRY.values())


def spec_strategy(kind: Kind) -> st.SearchStrategy[ExerciseSpec]:
    return st.builds(
        ExerciseSpec,
        kind=st.just(kind.name),
        level=st.integers(1, MAX_LEVEL),
        age=st.integers(kind.min_age, kind.max_age),
        seed=st.integers(0, 2**64 - 1),
        lang=st.sampled_from(("zh", "en")),
        variant=st.sampled_from(("", *kind.variants)),
    )


def render_both(kind: Kind, spec: ExerciseSpec) -> tuple[bytes, bytes]:
    sheet, key = kind.sheet(spec), kind.answer_key(spec)
    a, b = sheet.render(), key.render()
    assert len(a) == sheet.size, (spec, len(a), sheet.size)
    assert len(b) == key.size, (spec, len(b), key.size)
    return a, b


def body_without_code(data: bytes, spec: ExerciseSpec) -> bytes:
    """The document minus the seed-derived sheet code, to compare content only."""
    return data.replace(sheet_code(spec.seed).encode(), b"")


# -- registry -------------------------------------------------------------------


def test_registry_has_ten_kinds_covering_every_dimension() -> None:
    assert len(REGISTRY) >= 10
    assert {k.dimension for k in KINDS} == set(DIMENSIONS)
    for name, kind in REGISTRY.items():
        assert name == kind.name
        assert name.isascii()
        assert set(kind.title) == {"zh", "en"}
        assert MIN_AGE <= kind.min_age <= kind.max_age <= MAX_AGE
        assert kind.variants


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_kinds_for_is_never_empty_and_deterministic(dimension: str) -> None:
    for age in range(MIN_AGE, MAX_AGE + 1):
        kinds = kinds_for(dimension, age)
        assert kinds, (dimension, age)
        assert [k.name for k in kinds] == [k.name for k in kinds_for(dimension, age)]
        for k in kinds:
            assert k.dimension == dimension
            assert k.min_age <= age <= k.max_age


def test_kinds_for_rejects_unknown_input() -> None:
    with pytest.raises(ValueError):
        kinds_for("focus", 8)
    with pytest.raises(ValueError):
        kinds_for("span", 3)


@pytest.mark.parametrize(
    "spec",
    [
        ExerciseSpec("maze", 3, 8, 1),  # wrong kind for schulte
        ExerciseSpec("schulte", 0, 8, 1),
        ExerciseSpec("schulte", MAX_LEVEL + 1, 8, 1),
        ExerciseSpec("schulte", 3, 3, 1),
        ExerciseSpec("schulte", 3, 15, 1),
        ExerciseSpec("schulte", 3, 8, 1, lang="fr"),
        ExerciseSpec("schulte", 3, 8, 1, variant="emoji"),
        ExerciseSpec("schulte", 3, 8, -1),
    ],
)
def test_invalid_specs_are_rejected(spec: ExerciseSpec) -> None:
    with pytest.raises(ValueError):
        REGISTRY["schulte"].sheet(spec)


# -- size stability ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_size_is_exact_for_every_parameter_tuple(kind: Kind) -> None:
    """Every (level, age, lang, variant) the size cache can hold, one seed each."""
    n = 0
    for variant in ("", *kind.variants):
        for level in range(1, MAX_LEVEL + 1):
            for age in range(kind.min_age, kind.max_age + 1):
                for lang in ("zh", "en"):
                    n += 1
                    spec = ExerciseSpec(kind.name, level, age, n * 0x9E3779B97F4A7C15 % 2**64)
                    spec = ExerciseSpec(kind.name, level, age, spec.seed, lang, variant)
                    render_both(kind, spec)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_render_matches_size_and_is_valid_a4_svg(kind: Kind, data: st.DataObject) -> None:
    spec = data.draw(spec_strategy(kind))
    for doc in render_both(kind, spec):
        root = ET.fromstring(doc)
        assert root.tag == f"{NS}svg"
        assert root.get("viewBox") == "0 0 210 297"
        assert root.get("width") == "210mm" and root.get("height") == "297mm"
        assert doc.startswith(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
            b'viewBox="0 0 210 297"'
        )
        text = doc.decode("utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "url(" not in text and "@import" not in text
        # padding stays modest: it is waste on the wire
        pad = doc.find(b"<!--")
        if pad >= 0:
            assert (doc.find(b"-->", pad) + 3 - pad) / len(doc) < 0.3


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_same_spec_gives_the_same_bytes(kind: Kind, data: st.DataObject) -> None:
    spec = data.draw(spec_strategy(kind))
    first = render_both(kind, spec)
    assert render_both(kind, spec) == first
    again = kind.sheet(spec)  # a fresh Doc, rendered twice
    assert again.render() == again.render() == first[0]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_different_seeds_give_different_content(kind: Kind) -> None:
    """Smallest sheets (level 1, youngest age), eight seeds: all drawn differently.

    Deterministic rather than random seeds, so a rare coincidence between two
    tiny sheets cannot make the suite flaky. The seed-derived sheet code is
    removed first, so the drawn content itself must differ.
    """
    for variant in kind.variants:
        bodies = set()
        keys = set()
        for seed in range(8):
            spec = ExerciseSpec(kind.name, 1, kind.min_age, seed, "zh", variant)
            sheet, key = render_both(kind, spec)
            bodies.add(body_without_code(sheet, spec))
            keys.add(body_without_code(key, spec))
        assert len(bodies) == 8 and len(keys) == 8, (kind.name, variant)


def _digest_all() -> str:
    h = hashlib.sha256()
    for kind in KINDS:
        for i, variant in enumerate(kind.variants):
            spec = ExerciseSpec(
                kind.name, 3 + i, 9, 2**63 + 12345 + i, ("zh", "en")[i % 2], variant
            )
            h.update(kind.sheet(spec).render())
            h.update(kind.answer_key(spec).render())
    return h.hexdigest()


def test_bytes_do_not_depend_on_the_process_or_hash_seed() -> None:
    code = "import tests.generators.test_worksheets as t, sys; sys.stdout.write(t._digest_all())"
    env = dict(os.environ, PYTHONHASHSEED="4242")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout == _digest_all()


# -- light, pure documents -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_docs_hold_no_drawn_data(kind: Kind) -> None:
    spec = ExerciseSpec(kind.name, MAX_LEVEL, MAX_AGE, 99, "zh", kind.variants[-1])
    for doc in (kind.sheet(spec), kind.answer_key(spec)):
        assert isinstance(doc.render, functools.partial)
        assert not doc.render.keywords
        for arg in doc.render.args:
            assert isinstance(arg, Kind | str | int | ExerciseSpec), type(arg)
        assert doc.ext == "svg"


def test_rendering_touches_no_files(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = []
    for kind in KINDS:
        spec = ExerciseSpec(kind.name, 5, 10, 5, "en", kind.variants[0])
        docs += [kind.sheet(spec), kind.answer_key(spec)]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"file access while rendering: {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    for doc in docs:
        assert len(doc.render()) == doc.size


# -- texts -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_texts_exist_fit_and_promise_no_grades(kind: Kind) -> None:
    for variant in kind.variants:
        for level in (1, MAX_LEVEL):
            for age in (kind.min_age, MAX_AGE):
                for lang in ("zh", "en"):
                    spec = ExerciseSpec(kind.name, level, age, 1, lang, variant)
                    assert 1 <= kind.minutes(spec) <= 10
                    for text in (kind.instructions(spec), kind.how_to_run(spec)):
                        assert text.strip()
                        if lang == "en" and variant != "hanzi":
                            assert not any(ord(c) >= 0x2E80 for c in text), text
                        for word in ("成绩提高", "提高成绩", "grades will", "improve grades"):
                            assert word not in text
                    # frame raises if the instructions or key note overflow the header
                    kind.frame(spec, "sheet")
                    kind.frame(spec, "key")


def test_sheet_shows_time_box_title_and_name_line() -> None:
    kind = REGISTRY["cancellation"]
    spec = ExerciseSpec("cancellation", 4, 8, 3, "zh", "digits")
    text = kind.sheet(spec).render().decode()
    assert f"限时 {kind.minutes(spec)} 分钟" in text
    assert "舒尔特" not in text and "划消练习" in text and "姓名" in text and "日期" in text
    en = kind.sheet(ExerciseSpec("cancellation", 4, 8, 3, "en", "digits")).render().decode()
    assert f"Time: {kind.minutes(spec)} min" in en and "Name:" in en


def test_difficulty_rises_with_level() -> None:
    schulte = REGISTRY["schulte"]
    sizes = [schulte.size_n(ExerciseSpec("schulte", lv, 8, 0)) for lv in range(1, 11)]  # type: ignore[attr-defined]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert schulte.size_n(ExerciseSpec("schulte", 1, 4, 0)) == 3  # type: ignore[attr-defined]
    assert schulte.size_n(ExerciseSpec("schulte", 10, 14, 0)) == 7  # type: ignore[attr-defined]
    maze = REGISTRY["maze"]
    cols = [maze.shape(ExerciseSpec("maze", lv, 9, 0)).cols for lv in range(1, 11)]  # type: ignore[attr-defined]
    assert cols == sorted(cols) and cols[0] < cols[-1]
    for kind in KINDS:  # documents (and so content) never shrink as the level rises
        for variant in kind.variants:
            for age in (kind.min_age, 9, MAX_AGE):
                if age < kind.min_age:
                    continue
                sizes = [
                    kind.sheet(ExerciseSpec(kind.name, lv, age, 0, "zh", variant)).size
                    for lv in range(1, MAX_LEVEL + 1)
                ]
                assert sizes[-1] >= sizes[0], (kind.name, variant, age)


def test_young_children_get_a_variant_they_can_do() -> None:
    stroop = REGISTRY["stroop"]
    young = ExerciseSpec("stroop", 2, 5, 1, "zh", "words")
    assert stroop.variant_of(young) == "daynight"  # type: ignore[attr-defined]
    assert (
        b'href="#sun"' in stroop.sheet(young).render()
        or b'href="#moon"' in stroop.sheet(young).render()
    )
    assert stroop.variants_for(5) == ("daynight",)
    assert stroop.variants_for(8) == ("words", "daynight")
    assert stroop.variants_for(9) == ("words",)  # no day-night Stroop after 8


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_header_lines_fit_the_page_width(kind: Kind) -> None:
    """Instruction and key-note lines stay within 180 mm and never start with a comma."""
    from generators.worksheets.svg import text_em

    for variant in kind.variants:
        for lang in ("zh", "en"):
            spec = ExerciseSpec(kind.name, MAX_LEVEL, MAX_AGE, 1, lang, variant)
            for doc in (kind.sheet(spec), kind.answer_key(spec)):
                root = ET.fromstring(doc.render())
                for el in root.iter(f"{NS}text"):
                    if el.get("class") == "i" and float(el.get("y", "0")) < 58:
                        line = "".join(el.itertext())
                        assert text_em(line) * 4.2 <= 182.0, line
                        assert line[0] not in "，。、；：！？）”", line
