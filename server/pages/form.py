"""The plan form: its fields, defaults, and every error of a submission at once.

Validation is ``PlanRequest.from_mapping``, exactly as for the API; nothing
here re-states a rule. ``PlanRequest`` stops at the first bad field, but a
teacher should see every problem of a form at once, so ``validate`` asks it
again with each reported field replaced by a known-good value until the rest
passes. The messages come from the page's catalogue by field and error code,
with the bounds taken from ``generators.request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from generators import request as rules
from generators.dimensions import DIMENSIONS
from generators.request import PlanRequest, ValidationError

from .texts import catalogue, dimension_label

NUMBER_FIELDS: dict[str, tuple[int, int]] = {
    "age": rules.AGE_RANGE,
    "weeks": rules.WEEKS_RANGE,
    "lessons_per_week": rules.LESSONS_RANGE,
    "exercises_per_lesson": rules.EXERCISES_RANGE,
}
SCORE_FIELDS: tuple[str, ...] = tuple(f"scores.{d}" for d in DIMENSIONS)
FORM_FIELDS: tuple[str, ...] = (
    "name",
    "mode",
    *NUMBER_FIELDS,
    "start_date",
    "lang",
    *SCORE_FIELDS,
)
"""Every input of the form, in page order (the order of the error summary)."""

# A value each field is known to accept, put in place of a reported bad one
# so that validation goes on to the fields after it.
_GOOD: dict[str, str] = {
    "name": "x",
    "mode": "focus",
    "age": "8",
    "weeks": "1",
    "lessons_per_week": "3",
    "exercises_per_lesson": "7",
    "start_date": "",
    "lang": "zh",
}


def next_monday(today: date) -> date:
    """The first Monday after ``today``: the default start of a plan."""
    return today + timedelta(days=7 - today.weekday())


def defaults(page_lang: str, today: date) -> dict[str, str]:
    """The form's values before the teacher types anything."""
    return {
        "name": "",
        "mode": "assessment",
        "age": "",
        "weeks": "4",
        "lessons_per_week": "3",
        "exercises_per_lesson": "7",
        "start_date": next_monday(today).isoformat(),
        "lang": page_lang,
        **dict.fromkeys(SCORE_FIELDS, ""),
    }


def values_from(data: Mapping[str, object]) -> dict[str, str]:
    """The typed values of a submitted form, as text, for the form's own fields only."""
    out: dict[str, str] = {}
    for key in FORM_FIELDS:
        value = data.get(key)
        if isinstance(value, list):
            value = value[0] if value else ""
        out[key] = value if isinstance(value, str) else ""
    return out


@dataclass
class Checked:
    """A validated submission: the request when it is valid, else messages by field."""

    request: PlanRequest | None
    errors: dict[str, str] = field(default_factory=dict)


def _request_data(values: Mapping[str, str]) -> dict[str, object]:
    """What goes to ``PlanRequest``: scores only in assessment mode (they are hidden otherwise)."""
    data: dict[str, object] = {k: v for k, v in values.items() if not k.startswith("scores.")}
    if values.get("mode", "").strip() != "focus":
        data.update({k: v for k, v in values.items() if k.startswith("scores.")})
    return data


def _replace(data: dict[str, object], name: str) -> bool:
    """Put a good value in place of the bad field; False when there is none to put."""
    if name in _GOOD:
        data[name] = _GOOD[name]
        if name == "mode":  # no scores are checked in focus mode
            for key in SCORE_FIELDS:
                data.pop(key, None)
        return True
    if name.startswith("scores.") and name in data:
        data[name] = "50"  # still counts as given: no "too few" because of a typo
        return True
    if name == "scores":
        data["mode"] = "focus"
        for key in SCORE_FIELDS:
            data.pop(key, None)
        return True
    return False


def validate(values: Mapping[str, str], lang: str) -> Checked:
    """Every error of the submission (in the page's language), or the valid request."""
    data = _request_data(values)
    errors: dict[str, str] = {}
    for _ in range(len(FORM_FIELDS) + 1):
        try:
            req = PlanRequest.from_mapping(data)
        except ValidationError as exc:
            name = exc.field or "form"
            if name in errors or not _replace(data, name):
                errors.setdefault(name, message(exc, lang))
                break
            errors[name] = message(exc, lang)
            continue
        return Checked(None if errors else req, errors)
    return Checked(None, errors)


def label(name: str, lang: str) -> str:
    """The visible label of a field (a score's label is its dimension's name)."""
    if name.startswith("scores."):
        return dimension_label(name.removeprefix("scores."), lang)
    return catalogue(lang).get(f"field_{name}", name)


def message(exc: ValidationError, lang: str) -> str:
    """The catalogue message for a field and error code, with the rule's bounds."""
    t = catalogue(lang)
    name, code = exc.field or "form", exc.code
    lo_s, hi_s = rules.SCORE_RANGE
    if name == "name":
        key = {"required": "err_required", "too_long": "err_name_too_long"}.get(code)
        return t[key or "err_name_invalid"].format(label=label(name, lang), hi=rules.NAME_MAX)
    if name == "mode":
        return t["err_mode"]
    if name in NUMBER_FIELDS:
        if code == "required":
            return t["err_required"].format(label=label(name, lang))
        lo, hi = NUMBER_FIELDS[name]
        return t["err_range"].format(label=label(name, lang), lo=lo, hi=hi)
    if name == "scores":
        if code == "not_allowed":
            return t["err_scores_not_allowed"]
        return t["err_scores_too_few"].format(min=rules.MIN_SCORED, lo=lo_s, hi=hi_s)
    if name in SCORE_FIELDS:
        return t["err_score"].format(label=label(name, lang), lo=lo_s, hi=hi_s)
    if name == "start_date":
        return t["err_date"].format(lo=rules.YEAR_RANGE[0], hi=rules.YEAR_RANGE[1])
    if name == "form":
        return t["err_form"]
    return t["err_invalid"].format(label=label(name, lang))
