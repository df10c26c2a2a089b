"""The plan request: what a teacher asked for, validated and normalised.

Everything downstream (plan, worksheets, archive bytes, ETag) is a pure
function of a ``PlanRequest``, so this module is where input is made exact:

- ``PlanRequest(...)`` checks typed values (ranges, allowed words) and
  normalises text; an invalid value raises ``ValidationError`` naming its
  field, so no half-valid request can exist.
- ``PlanRequest.from_mapping`` accepts what arrives over HTTP: JSON values or
  HTML-form strings. It only *coerces* (``"8"`` -> 8, full-width digits too,
  blank optional fields -> default) and then hands over to the constructor.
- ``to_canonical`` / ``canonical_bytes`` give one spelling per request (sorted
  keys, every field present, defaults written out). The plan seed and the
  download token are derived from those bytes, never from ``hash()``, so
  every process and every day agrees.

Input decisions (the HTTP form and the API share them):

- ``scores`` may be a JSON object ``{"span": 40}``, a string
  ``"span=40, sustained=55"`` (``,`` ``;`` or newlines between pairs, ``=`` or
  ``:`` inside them), or flat form fields ``scores.span=40`` (the same name
  an error reports, so a form can put the message beside its input). Mixing
  ``scores`` with ``scores.<dimension>`` fields is rejected. A blank or null
  score means "not assessed".
- Assessment mode needs scores for at least three of the eight dimensions.
  Focus (lesson-prep) mode rejects any score instead of ignoring it: a
  teacher who typed scores must not believe they shaped the plan.
- ``name`` (a child, or a class in focus mode) becomes the download's file
  name and the archive's top folder, so characters no file system accepts
  (``/ \\ : * ? " < > |``), control and bidi-override characters are
  rejected rather than silently replaced; whitespace runs collapse to one
  space; 1-40 characters after NFC.
- ``start_date`` is ``YYYY-MM-DD`` in 2000..2099 (ZIP timestamps are
  taken from plan dates and cannot go before 1980 or far past 2100).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from generators.dimensions import DIMENSIONS, LANGS
from generators.errors import PlanstreamError
from generators.texts import text

MODES: tuple[str, ...] = ("assessment", "focus")
FIELDS: tuple[str, ...] = (
    "name",
    "mode",
    "age",
    "weeks",
    "lessons_per_week",
    "exercises_per_lesson",
    "scores",
    "lang",
    "start_date",
)
"""Top-level fields, in the order errors are reported."""

NAME_MAX = 40
MIN_SCORED = 3
AGE_RANGE = (4, 14)
WEEKS_RANGE = (1, 52)
LESSONS_RANGE = (1, 7)
EXERCISES_RANGE = (3, 10)
SCORE_RANGE = (0, 100)
YEAR_RANGE = (2000, 2099)

_SEED_PERSON = b"planstream-plan1"  # bump when the plan algorithm changes meaning

_FORBIDDEN_NAME_CHARS = '/\\:*?"<>|'
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_INT_RE = re.compile(r"[+-]?[0-9]{1,9}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PAIR_SPLIT_RE = re.compile(r"[,;\n]+")
_WS_RE = re.compile(r"\s+")


class ValidationError(PlanstreamError):
    """One invalid input value (HTTP 400).

    ``field`` names it as the API spells it ("weeks", "scores.span"), or is
    None when the request as a whole is malformed (not an object, bad JSON).
    ``code`` is short and stable for machines: "required", "invalid",
    "out_of_range", "too_long", "too_few", "not_allowed", "unknown_field".
    ``message`` is English for people and states the allowed values.
    """

    status = 400

    def __init__(self, field: str | None, code: str, message: str) -> None:
        super().__init__(message, code=code, field=field)

    def to_dict(self) -> dict[str, str | None]:
        """The body of an HTTP 400 error: ``{"code", "message", "field"}``."""
        return {"code": self.code, "message": self.message, "field": self.field}


def _check_int(field: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "invalid", f"{field} must be a whole number from {lo} to {hi}")
    if not lo <= value <= hi:
        raise ValidationError(
            field, "out_of_range", f"{field} must be from {lo} to {hi} (got {value})"
        )
    return value


def _normalise_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("name", "invalid", "name must be text of 1 to 40 characters")
    name = _WS_RE.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if not name:
        raise ValidationError("name", "required", "name is required (1 to 40 characters)")
    if len(name) > NAME_MAX:
        raise ValidationError(
            "name", "too_long", f"name must be 1 to {NAME_MAX} characters (got {len(name)})"
        )
    for ch in name:
        if unicodedata.category(ch) == "Cs":  # a lone surrogate ("\ud800"): not text
            raise ValidationError("name", "invalid", "name must be valid Unicode text")
        if ch in _FORBIDDEN_NAME_CHARS or ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            raise ValidationError(
                "name",
                "invalid",
                'name must not contain control characters or any of / \\ : * ? " < > |',
            )
    return name


def _normalise_scores(mode: str, value: object) -> Mapping[str, int]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValidationError("scores", "invalid", "scores must map dimensions to 0..100")
    clean: dict[str, int] = {}
    for key, score in value.items():
        if key not in DIMENSIONS:
            raise ValidationError(
                f"scores.{key}",
                "unknown_field",
                f"unknown dimension {key!r}; expected one of {', '.join(DIMENSIONS)}",
            )
        clean[key] = _check_int(f"scores.{key}", score, *SCORE_RANGE)
    if mode == "focus" and clean:
        raise ValidationError(
            "scores",
            "not_allowed",
            "scores are used only in assessment mode; leave them empty in focus mode",
        )
    if mode == "assessment" and len(clean) < MIN_SCORED:
        raise ValidationError(
            "scores",
            "required" if not clean else "too_few",
            f"assessment mode needs scores (0 to 100) for at least {MIN_SCORED} of the "
            f"{len(DIMENSIONS)} dimensions (got {len(clean)})",
        )
    return MappingProxyType({k: clean[k] for k in sorted(clean)})


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A validated plan request. Construct it with typed values or ``from_mapping``.

    ``scores`` is a read-only mapping (sorted by key) so the request, and the
    seed derived from it, cannot change after validation; it is left out of
    ``hash()`` because mappings are unhashable (equality still compares it).
    """

    name: str
    mode: str
    age: int
    weeks: int = 1
    lessons_per_week: int = 3
    exercises_per_lesson: int = 7
    scores: Mapping[str, int] = field(default_factory=dict, hash=False)
    lang: str = "zh"
    start_date: date | None = None

    def __post_init__(self) -> None:
        # Checked in FIELDS order so the first error reported is predictable.
        set_ = object.__setattr__
        set_(self, "name", _normalise_name(self.name))
        if self.mode not in MODES:
            raise ValidationError("mode", "invalid", "mode must be 'assessment' or 'focus'")
        _check_int("age", self.age, *AGE_RANGE)
        _check_int("weeks", self.weeks, *WEEKS_RANGE)
        _check_int("lessons_per_week", self.lessons_per_week, *LESSONS_RANGE)
        _check_int("exercises_per_lesson", self.exercises_per_lesson, *EXERCISES_RANGE)
        set_(self, "scores", _normalise_scores(self.mode, self.scores))
        if self.lang not in LANGS:
            raise ValidationError("lang", "invalid", "lang must be 'zh' or 'en'")
        start = self.start_date
        if start is not None:
            if isinstance(start, datetime):
                start = start.date()
                set_(self, "start_date", start)
            if not isinstance(start, date):
                raise ValidationError("start_date", "invalid", "start_date must be YYYY-MM-DD")
            if not YEAR_RANGE[0] <= start.year <= YEAR_RANGE[1]:
                raise ValidationError(
                    "start_date",
                    "out_of_range",
                    f"start_date must be in the years {YEAR_RANGE[0]} to {YEAR_RANGE[1]}",
                )

    # -- parsing -----------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PlanRequest:
        """Validate a JSON object or HTML form (any Mapping, e.g. aiohttp's MultiDict).

        Unknown top-level fields are rejected: a misspelt field silently
        falling back to its default would give the teacher a plan they did
        not ask for.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(None, "invalid", "the request must be an object of fields")
        flat_scores: dict[str, object] = {}
        for key in data:
            if not isinstance(key, str):
                raise ValidationError(str(key), "unknown_field", "field names must be text")
            if key.startswith("scores."):
                flat_scores[key[len("scores.") :]] = data[key]
            elif key not in FIELDS:
                raise ValidationError(
                    key, "unknown_field", f"unknown field; expected one of {', '.join(FIELDS)}"
                )

        kwargs: dict[str, object] = {}
        name = data.get("name")
        if _blank(name):
            raise ValidationError("name", "required", "name is required (1 to 40 characters)")
        kwargs["name"] = name
        mode = data.get("mode")
        if _blank(mode):
            raise ValidationError("mode", "required", "mode is required: 'assessment' or 'focus'")
        kwargs["mode"] = _word(mode)
        age = _coerce_int("age", data.get("age"), AGE_RANGE)
        if age is None:
            raise ValidationError("age", "required", "age is required (4 to 14)")
        kwargs["age"] = age
        for key, bounds in (
            ("weeks", WEEKS_RANGE),
            ("lessons_per_week", LESSONS_RANGE),
            ("exercises_per_lesson", EXERCISES_RANGE),
        ):
            number = _coerce_int(key, data.get(key), bounds)
            if number is not None:
                kwargs[key] = number
        kwargs["scores"] = _coerce_scores(data.get("scores"), flat_scores)
        lang = data.get("lang")
        if not _blank(lang):
            kwargs["lang"] = _word(lang)
        kwargs["start_date"] = _coerce_date(data.get("start_date"))
        return cls(**kwargs)  # type: ignore[arg-type]  # coerced values; __post_init__ checks

    @classmethod
    def from_canonical(cls, data: Mapping[str, object] | bytes | str) -> PlanRequest:
        """Rebuild a request from ``to_canonical()`` or ``canonical_bytes()`` output.

        It goes through full validation again: the bytes may come from a
        token sealed by an older version, and validation is cheap.
        """
        if isinstance(data, bytes | str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise ValidationError(None, "invalid", "canonical request is not JSON") from exc
        return cls.from_mapping(data)  # type: ignore[arg-type]  # JSON of any shape; checked there

    # -- canonical form ----------------------------------------------------

    def to_canonical(self) -> dict[str, object]:
        """Every field, defaults included, keys sorted: one spelling per request."""
        return {
            "age": self.age,
            "exercises_per_lesson": self.exercises_per_lesson,
            "lang": self.lang,
            "lessons_per_week": self.lessons_per_week,
            "mode": self.mode,
            "name": self.name,
            "scores": dict(self.scores),
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "weeks": self.weeks,
        }

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        """Pickled as its canonical bytes (``scores`` is a mappingproxy, which cannot be)."""
        return (PlanRequest.from_canonical, (self.canonical_bytes(),))

    def canonical_bytes(self) -> bytes:
        """Compact, sorted JSON in UTF-8: the input of the seed and of download tokens."""
        return json.dumps(
            self.to_canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @property
    def seed(self) -> int:
        """64-bit seed of every random choice in the plan (BLAKE2b of the canonical bytes)."""
        digest = hashlib.blake2b(self.canonical_bytes(), digest_size=8, person=_SEED_PERSON)
        return int.from_bytes(digest.digest(), "big")

    # -- names -------------------------------------------------------------

    @property
    def archive_root(self) -> str:
        """Top folder of the archive, as the replaced system named its downloads."""
        return text(self.lang, "names.archive_root", name=self.name, weeks=self.weeks)

    @property
    def filename(self) -> str:
        """The download's file name: ``archive_root`` plus ``.zip``."""
        return self.archive_root + ".zip"


# -- coercion of JSON / form values -------------------------------------------


def _blank(value: object) -> bool:
    """None or whitespace-only text: an empty form input means "not given"."""
    return value is None or (isinstance(value, str) and not value.strip())


def _word(value: object) -> object:
    """Keywords compare case-insensitively; full-width letters (IME input) fold."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip().lower()
    return value


def _coerce_int(field: str, value: object, bounds: tuple[int, int]) -> int | None:
    """A whole number from JSON (int, integral float) or form text; None when blank."""
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if _INT_RE.fullmatch(text):
            return int(text)
        lo, hi = bounds
        raise ValidationError(field, "invalid", f"{field} must be a whole number from {lo} to {hi}")
    return value  # type: ignore[return-value]  # the constructor rejects non-ints


def _coerce_scores(value: object, flat: Mapping[str, object]) -> dict[str, object]:
    """Scores from an object, a ``"span=40, sustained=55"`` string, or ``scores.*`` fields."""
    given = not _blank(value) and value != {}
    if given and flat:
        raise ValidationError(
            "scores",
            "invalid",
            "give scores either as 'scores' or as 'scores.<dimension>' fields, not both",
        )
    pairs: list[tuple[str, object]]
    if not given:
        pairs = list(flat.items())
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = _parse_score_text(value)
    else:
        raise ValidationError(
            "scores", "invalid", "scores must be an object like {\"span\": 40} or 'span=40'"
        )
    scores: dict[str, object] = {}
    for raw_key, raw in pairs:
        key = raw_key.strip() if isinstance(raw_key, str) else raw_key
        if key in scores:
            raise ValidationError(f"scores.{key}", "invalid", "dimension given more than once")
        number = _coerce_int(f"scores.{key}", raw, SCORE_RANGE)
        if number is not None:
            scores[key] = number
    return scores


def _parse_score_text(text: str) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for item in _PAIR_SPLIT_RE.split(unicodedata.normalize("NFKC", text)):
        if not item.strip():
            continue
        key, sep, score = item.replace(":", "=").partition("=")
        if not sep:
            raise ValidationError(
                "scores", "invalid", "scores must look like 'span=40, sustained=55' (0 to 100 each)"
            )
        pairs.append((key.strip(), score))
    return pairs


def _coerce_date(value: object) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if _DATE_RE.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    raise ValidationError("start_date", "invalid", "start_date must be a date as YYYY-MM-DD")
