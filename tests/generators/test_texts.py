"""The text catalogues: both languages say the same things, English stays English,
the wording feeds the ETag, and size-stable rendering follows the catalogue.

The last point is the one a hand-typed bound would break: the catalogues
are swapped for copies whose every text is longer in bytes (but not in
printed width), and every kind, lesson plan and overview must still render
to exactly the size it announced, and announce a different size than before.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from generators import entries, lessons, texts
from generators.archive import ProducerSource
from generators.dimensions import DIMENSIONS, LANGS, dimension_description, dimension_name
from generators.entries import build_archive
from generators.request import PlanRequest
from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec
from generators.worksheets.page import doc_size

CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f\U00020000-\U0002ffff]")
"""CJK ideographs, kana, CJK punctuation and full-width forms."""


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    zh, en = texts.catalogue("zh"), texts.catalogue("en")
    assert set(zh) == set(en)
    assert len(zh) > 200
    differ = {
        k: (zh[k], en[k]) for k in zh if texts.placeholders(zh[k]) != texts.placeholders(en[k])
    }
    assert differ == {}


def test_no_english_text_contains_a_cjk_character() -> None:
    bad = {k: v for k, v in texts.catalogue("en").items() if CJK.search(v)}
    assert bad == {}
    # and the check itself sees CJK where there is some
    assert sum(bool(CJK.search(v)) for v in texts.catalogue("zh").values()) > 150


def test_every_kind_has_its_texts_in_both_languages() -> None:
    for name, kind in REGISTRY.items():
        for lang in LANGS:
            assert kind.title[lang] == texts.text(lang, f"kind.{name}.title")
            assert kind.title[lang]


def test_dimension_names_come_from_the_catalogue() -> None:
    assert [dimension_name(d, "zh") for d in DIMENSIONS][:2] == ["注意广度", "注意稳定性"]
    assert dimension_name("working_memory", "en") == "Working memory"
    assert dimension_description("span", "en").startswith("How much")
    with pytest.raises(KeyError):
        dimension_name("focus", "en")


def test_text_fills_named_placeholders_and_refuses_a_missing_one() -> None:
    assert texts.text("en", "doc.of", index=2, total=12) == "Lesson 2 of 12"
    assert texts.text("zh", "names.lesson_folder", week=3, number=1) == "第03周/第01课"
    with pytest.raises(KeyError):
        texts.text("en", "doc.of", index=2)
    assert texts.placeholders("{a} and {b:02d}, {{c}}") == {"a", "b"}


def test_load_catalogue_flattens_tables_and_rejects_non_text(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('top = "x"\n[a.b]\nc = "{n} y"\n', encoding="utf-8")
    assert dict(texts.load_catalogue(good)) == {"top": "x", "a.b.c": "{n} y"}
    bad = tmp_path / "bad.toml"
    bad.write_text("[a]\nn = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"a\.n must be a string"):
        texts.load_catalogue(bad)


def test_a_changed_text_changes_the_digest_and_the_etag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for lang in LANGS:
        (tmp_path / f"{lang}.toml").write_bytes((texts.HERE / f"{lang}.toml").read_bytes())
    same = texts.digest(LANGS, tmp_path)
    assert same == texts.digest(LANGS)
    assert entries.GENERATOR_VERSION.endswith(same[:16])
    en = tmp_path / "en.toml"
    en.write_text(en.read_text(encoding="utf-8").replace("Warm-up", "Warm up"), encoding="utf-8")
    assert texts.digest(LANGS, tmp_path) != same

    req = PlanRequest(name="Sam", mode="focus", age=9, weeks=1, lang="en")
    before = build_archive(req).etag
    monkeypatch.setattr(
        entries, "GENERATOR_VERSION", "1+texts." + texts.digest(LANGS, tmp_path)[:16]
    )
    after = build_archive(req).etag
    assert after != before
    assert build_archive(req).etag == after


# -- size-stable rendering follows the catalogue ------------------------------------------


def _wider_bytes(template: str, lang: str) -> str:
    """The template with its literal text re-spelled in more UTF-8 bytes, same printed width."""
    swap = (
        {"e": "é", "a": "ä", "o": "ö", " ": "\u00a0"}
        if lang == "en"
        else {
            "的": "\U00020000",
            "一": "\U00020001",
            "孩": "\U00020002",
            "练": "\U00020003",
            "答": "\U00020004",
        }
    )
    out = []
    for literal, field, spec, conv in string.Formatter().parse(template):
        literal = literal.replace("{", "{{").replace("}", "}}")
        out.append("".join(swap.get(ch, ch) for ch in literal))
        if field is not None:
            out.append(
                "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            )
    return "".join(out)


def _clear_caches() -> None:
    texts.catalogue.cache_clear()
    texts.section.cache_clear()
    doc_size.cache_clear()
    lessons._EXERCISE_CACHE.clear()


@pytest.fixture
def wider_catalogues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for lang in LANGS:
        lines = []
        for key, value in texts.catalogue(lang).items():
            # titles are read once per kind and name files; names stay as they are
            keep = key.endswith(".title") or key.startswith(("names.", "doc.html_lang"))
            wider = value if keep else _wider_bytes(value, lang)
            lines.append(f"{key} = {json.dumps(wider, ensure_ascii=False)}")
        (tmp_path / f"{lang}.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _clear_caches()
    monkeypatch.setattr(texts, "HERE", tmp_path)
    yield
    monkeypatch.undo()
    _clear_caches()


def _sizes() -> dict[ExerciseSpec, tuple[int, int]]:
    out = {}
    for name, kind in REGISTRY.items():
        for variant in kind.variants:
            for lang in LANGS:
                for level in (1, 7, MAX_LEVEL):
                    for age in {kind.min_age, 9, kind.max_age}:
                        spec = ExerciseSpec(name, level, age, 2026, lang, variant)
                        out[spec] = (kind.sheet(spec).size, kind.answer_key(spec).size)
    return out


@pytest.mark.slow
def test_bounds_follow_the_catalogue(wider_catalogues: None) -> None:
    assert texts.text("en", "doc.warmup") == "Wärm-up"  # the wider copy is in use
    for spec, (sheet, key) in _sizes().items():
        kind = REGISTRY[spec.kind]
        assert len(kind.sheet(spec).render()) == sheet, spec
        assert len(kind.answer_key(spec).render()) == key, spec
    for lang in LANGS:
        req = PlanRequest(
            name="Ann",
            mode="assessment",
            age=8,
            weeks=2,
            scores={"span": 20, "sustained": 60, "selective": 90},
            lang=lang,
        )
        for entry in build_archive(req).layout.entries:
            assert isinstance(entry.source, ProducerSource)
            assert len(entry.source.render()) == entry.source.size, entry.name


def test_wider_catalogues_change_the_sizes(wider_catalogues: None) -> None:
    wider = _sizes()
    texts.HERE = Path(texts.__file__).resolve().parent  # the fixture undoes it anyway
    _clear_caches()
    normal = _sizes()
    grew = sum(wider[s][0] > normal[s][0] and wider[s][1] > normal[s][1] for s in normal)
    assert grew == len(normal)
