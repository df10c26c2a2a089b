"""PlanRequest: parsing JSON and form input, validation errors, canonical form, names."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

import pytest
from hypothesis import given, settings

from generators.request import FIELDS, PlanRequest, ValidationError
from tests.generators.plan_support import requests

ASSESS = {
    "name": "小明",
    "mode": "assessment",
    "age": 8,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
}
FOCUS = {"name": "三年级二班", "mode": "focus", "age": 9}


def parse(**changes: object) -> PlanRequest:
    data = dict(ASSESS)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return PlanRequest.from_mapping(data)


def error(**changes: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse(**changes)
    return info.value


# -- accepted input ---------------------------------------------------------------------


def test_defaults() -> None:
    req = parse()
    assert (req.weeks, req.lessons_per_week, req.exercises_per_lesson) == (1, 3, 7)
    assert req.lang == "zh" and req.start_date is None
    assert dict(req.scores) == {"selective": 70, "span": 40, "sustained": 55}


def test_html_form_strings_are_coerced() -> None:
    form = {
        "name": "  小明  ",
        "mode": " Assessment ",
        "age": "8",
        "weeks": "４",  # full-width digit from a Chinese IME
        "lessons_per_week": "2",
        "exercises_per_lesson": "10",
        "scores.span": "40",
        "scores.sustained": "55",
        "scores.selective": "70",
        "scores.divided": "",  # an empty input means "not assessed"
        "lang": "EN",
        "start_date": "2025-03-03",
    }
    req = PlanRequest.from_mapping(form)
    assert req.name == "小明" and req.mode == "assessment" and req.lang == "en"
    assert (req.age, req.weeks, req.lessons_per_week, req.exercises_per_lesson) == (8, 4, 2, 10)
    assert dict(req.scores) == {"selective": 70, "span": 40, "sustained": 55}
    assert req.start_date == date(2025, 3, 3)


def test_blank_optional_form_fields_take_defaults() -> None:
    req = parse(weeks="", lessons_per_week="  ", exercises_per_lesson=None, lang="", start_date="")
    assert (req.weeks, req.lessons_per_week, req.exercises_per_lesson, req.lang) == (1, 3, 7, "zh")
    assert req.start_date is None


@pytest.mark.parametrize(
    "scores",
    [
        {"span": 40, "sustained": 55, "selective": 70},
        {"span": "40", "sustained": " 55 ", "selective": 70.0, "divided": None},
        "span=40,sustained=55,selective=70",
        "span: 40; sustained: 55\nselective = 70",
        "span=40，sustained=55，selective=70",  # full-width commas
    ],
)
def test_score_formats_are_equivalent(scores: object) -> None:
    assert parse(scores=scores) == parse()


def test_name_is_nfc_and_whitespace_collapsed() -> None:
    req = parse(name="  Jose\u0301   \t Li ")
    assert req.name == "Jos\u00e9 Li"
    assert len(parse(name="测" * 40).name) == 40
    assert parse(name="O'Neil & 小明 (三)班").name == "O'Neil & 小明 (三)班"


def test_focus_mode_accepts_blank_scores() -> None:
    req = PlanRequest.from_mapping({**FOCUS, "scores": "", "scores.span": ""})
    assert req.mode == "focus" and dict(req.scores) == {}


def test_integral_floats_and_dates_pass() -> None:
    assert parse(weeks=3.0).weeks == 3
    assert parse(start_date=date(2030, 1, 2)).start_date == date(2030, 1, 2)
    assert parse(start_date=datetime(2030, 1, 2, 9, 30)).start_date == date(2030, 1, 2)


# -- rejected input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"name": ...}, "name", "required"),
        ({"name": "   "}, "name", "required"),
        ({"name": "x" * 41}, "name", "too_long"),
        ({"name": "a/b"}, "name", "invalid"),
        ({"name": "a\x07b"}, "name", "invalid"),
        ({"name": "abc\u202egpj.exe"}, "name", "invalid"),
        ({"name": 12}, "name", "invalid"),
        ({"mode": ...}, "mode", "required"),
        ({"mode": "exam"}, "mode", "invalid"),
        ({"age": ...}, "age", "required"),
        ({"age": "3"}, "age", "out_of_range"),
        ({"age": 15}, "age", "out_of_range"),
        ({"age": "eight"}, "age", "invalid"),
        ({"age": True}, "age", "invalid"),
        ({"age": 8.5}, "age", "invalid"),
        ({"weeks": 0}, "weeks", "out_of_range"),
        ({"weeks": "53"}, "weeks", "out_of_range"),
        ({"weeks": "1e3"}, "weeks", "invalid"),
        ({"lessons_per_week": 8}, "lessons_per_week", "out_of_range"),
        ({"exercises_per_lesson": 2}, "exercises_per_lesson", "out_of_range"),
        ({"exercises_per_lesson": 11}, "exercises_per_lesson", "out_of_range"),
        ({"scores": ...}, "scores", "required"),
        ({"scores": {"span": 40, "sustained": 50}}, "scores", "too_few"),
        ({"scores": {"span": 101, "sustained": 1, "divided": 2}}, "scores.span", "out_of_range"),
        ({"scores": {"span": -1, "sustained": 1, "divided": 2}}, "scores.span", "out_of_range"),
        ({"scores": {"span": "x", "sustained": 1, "divided": 2}}, "scores.span", "invalid"),
        ({"scores": {"focus": 3, "span": 1, "divided": 2}}, "scores.focus", "unknown_field"),
        ({"scores": "span=40,sustained"}, "scores", "invalid"),
        ({"scores": "span=1,span=2,divided=3"}, "scores.span", "invalid"),
        ({"scores": [40, 50, 60]}, "scores", "invalid"),
        ({"scores.span": "40"}, "scores", "invalid"),  # both forms at once
        ({"lang": "fr"}, "lang", "invalid"),
        ({"start_date": "2025/03/03"}, "start_date", "invalid"),
        ({"start_date": "20250303"}, "start_date", "invalid"),
        ({"start_date": "2025-02-30"}, "start_date", "invalid"),
        ({"start_date": "1999-12-31"}, "start_date", "out_of_range"),
        ({"start_date": 20250303}, "start_date", "invalid"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_errors_name_their_field(changes: dict[str, object], field: str, code: str) -> None:
    err = error(**changes)
    assert (err.field, err.code) == (field, code), err.message
    assert err.message and err.message.isascii()
    assert err.to_dict() == {"code": code, "message": err.message, "field": field}


@pytest.mark.parametrize(
    ("changes", "bounds"),
    [
        ({"age": 2}, "4 to 14"),
        ({"weeks": 60}, "1 to 52"),
        ({"lessons_per_week": 0}, "1 to 7"),
        ({"exercises_per_lesson": 1}, "3 to 10"),
        ({"scores": {"span": 200, "sustained": 1, "divided": 2}}, "0 to 100"),
        ({"name": "x" * 50}, "1 to 40"),
    ],
)
def test_messages_state_the_allowed_range(changes: dict[str, object], bounds: str) -> None:
    assert bounds in error(**changes).message


def test_focus_mode_rejects_scores() -> None:
    with pytest.raises(ValidationError) as info:
        PlanRequest.from_mapping({**FOCUS, "scores": {"span": 40}})
    assert (info.value.field, info.value.code) == ("scores", "not_allowed")


def test_flat_score_field_for_unknown_dimension() -> None:
    with pytest.raises(ValidationError) as info:
        PlanRequest.from_mapping({**FOCUS, "scores.patience": "3"})
    assert (info.value.field, info.value.code) == ("scores.patience", "unknown_field")


def test_not_a_mapping() -> None:
    with pytest.raises(ValidationError) as info:
        PlanRequest.from_mapping(["name"])  # type: ignore[arg-type]
    assert info.value.field is None


def test_constructor_validates_too() -> None:
    with pytest.raises(ValidationError) as info:
        PlanRequest(name="A", mode="focus", age=3)
    assert info.value.field == "age"
    with pytest.raises(ValidationError):
        PlanRequest(name="A", mode="focus", age=8, weeks="2")  # type: ignore[arg-type]


def test_request_is_immutable_and_hashable() -> None:
    req = parse()
    with pytest.raises(TypeError):
        req.scores["span"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        req.weeks = 3  # type: ignore[misc]
    assert hash(req) == hash(parse(scores="span=40,sustained=55,selective=70"))


# -- canonical form and seed ----------------------------------------------------------------


def test_canonical_form_is_complete_sorted_and_compact() -> None:
    req = parse(start_date="2025-03-03")
    canon = req.to_canonical()
    assert list(canon) == sorted(canon) and set(canon) == set(FIELDS)
    raw = req.canonical_bytes()
    assert (
        raw == json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert b" " not in raw and "小明".encode() in raw
    assert canon["start_date"] == "2025-03-03"


def test_seed_is_blake2b_of_canonical_bytes() -> None:
    req = parse()
    digest = hashlib.blake2b(req.canonical_bytes(), digest_size=8, person=b"planstream-plan1")
    assert req.seed == int.from_bytes(digest.digest(), "big")
    assert 0 <= req.seed < 2**64
    assert parse(name="小红").seed != req.seed
    assert parse(scores={"span": 41, "sustained": 55, "selective": 70}).seed != req.seed


@settings(max_examples=60, deadline=None)
@given(requests())
def test_canonical_round_trip(req: PlanRequest) -> None:
    assert PlanRequest.from_canonical(req.to_canonical()) == req
    again = PlanRequest.from_canonical(req.canonical_bytes())
    assert again == req and again.canonical_bytes() == req.canonical_bytes()
    assert again.seed == req.seed
    json.dumps(req.to_canonical())  # serialisable as is


def test_from_canonical_rejects_bad_json() -> None:
    with pytest.raises(ValidationError) as info:
        PlanRequest.from_canonical(b"{not json")
    assert info.value.field is None


# -- download names --------------------------------------------------------------------------


def test_archive_names() -> None:
    req = parse(weeks=4)
    assert req.archive_root == "小明\u20144周训练方案"
    assert req.filename == "小明—4周训练方案.zip"
    en = parse(weeks=4, lang="en", name="Tom")
    assert en.archive_root == "Tom - 4-week training plan"
    assert en.filename == "Tom - 4-week training plan.zip"
