"""The A4 page every worksheet shares, and the base class of all kinds.

Strategy: a document is ``frame head + body + frame tail``, padded to its size.

- The frame (title, meta line, name/date line, time box, instructions or key
  note, footer) depends only on the spec minus its seed, so its exact byte
  length is measured once per (kind, part, level, age, lang, variant) and
  cached. The only seed-dependent text in it, the sheet code that lets a
  teacher match a sheet to its key, has a fixed width.
- The body is drawn by the kind from ``kind._data(spec)``; the kind also
  states the body's maximum byte length for the same parameters.
- ``Doc.size`` = frame + body bound + slack, from the cache: a dict lookup and
  a few attribute reads, no drawing. ``Doc.render`` is a ``functools.partial``
  over module-level ``render_doc`` with the spec and the size, so a plan of
  thousands of Docs holds no drawn data until an entry is reached.

``Kind`` implements ``base.WorksheetKind``: ``name`` is the registry key,
``sheet(spec)`` and ``answer_key(spec)`` the two documents.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from generators.dimensions import DIMENSIONS, LANGS, dimension_name
from generators.norms import YOUNG_MAX_AGE
from generators.texts import by_lang, catalogue, section, text

from .base import MAX_LEVEL, Doc, ExerciseSpec, pad_to
from .svg import FONTS, PRINT_CSS, blen, esc, wrap

SHEET = "sheet"
KEY = "key"
MIN_AGE = 4
MAX_AGE = 14
LATIN_ON_ZH_FROM = 7
"""Youngest age for Latin letters on a Chinese sheet (pinyin starts in grade 1)."""
_EM_PER_LINE = 41.0  # 180 mm of 4.2 mm text, less room for an overhanging comma
SLACK = 8
"""Bytes added to every bound so the pad comment ("<!---->", 7 B) always fits."""

# Page geometry (mm). The body of every sheet is drawn inside BODY.
LEFT, RIGHT = 15.0, 195.0
BODY_TOP, BODY_BOTTOM = 62.0, 280.0
FOOTER_Y = 285.5
"""Footer baseline: its descenders end above 287 mm, 10 mm from the paper's edge."""

_CSS = PRINT_CSS + (
    ".h{font-size:7.5px;font-weight:700}.m{font-size:3.4px;fill:#555}"
    ".i{font-size:4.2px}.tb{fill:none;stroke:#c0392b;stroke-width:.5}"
    ".tt{font-size:4.2px;fill:#c0392b;font-weight:700;text-anchor:middle}"
    ".f{font-size:2.8px;fill:#888;text-anchor:middle}.sep{stroke:#999;stroke-width:.3}"
    ".e{text-anchor:end}"
)

_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud safely
CODE_WIDTH = 6


def sheet_code(seed: int) -> str:
    """Six-character code printed on a sheet and its key, so loose pages can be matched."""
    x = (seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 29
    out = []
    for _ in range(CODE_WIDTH):
        out.append(_CODE_ALPHABET[x & 31])
        x >>= 5
    return "".join(out)


def ramp(level: int, age: int, lo: float, hi: float, age_weight: float = 3.0) -> int:
    """Difficulty parameter between lo and hi, rising with level and (less) with age.

    Age counts as up to ``age_weight`` extra levels, so a 14-year-old starts
    where a 4-year-old stands after a few lessons, and both still grow with
    every level. Monotone in both arguments; never leaves [lo, hi].
    """
    a = min(max(age, MIN_AGE), MAX_AGE)
    t = (level - 1 + age_weight * (a - MIN_AGE) / (MAX_AGE - MIN_AGE)) / (
        MAX_LEVEL - 1 + age_weight
    )
    t = min(max(t, 0.0), 1.0)
    return int(lo + t * (hi - lo) + 0.5)


class Kind:
    """Base of every worksheet kind: validation, frame, size cache and Docs.

    Subclasses set the class attributes and implement ``_data`` (all random
    choices, from ``random.Random(spec.seed)``), ``_sheet_body``/``_key_body``
    (draw from that data) and ``_sheet_bound``/``_key_bound`` (maximum body
    bytes for the spec's parameters, without any random choice).
    """

    name: ClassVar[str]
    dimension: ClassVar[str]
    min_age: ClassVar[int] = MIN_AGE
    max_age: ClassVar[int] = MAX_AGE
    variants: ClassVar[tuple[str, ...]] = ("",)
    css: ClassVar[str] = ""
    """Kind-specific CSS appended to the page's <style> (part of the frame)."""
    variant_min_age: ClassVar[dict[str, int]] = {}
    """Youngest age each variant suits; younger children get ``default_variant``."""
    variant_max_age: ClassVar[dict[str, int]] = {}
    """Oldest age each variant suits (a day-night Stroop is too easy after 8)."""
    variant_langs: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Languages a variant is drawn in (汉字 variants only in Chinese plans); others: all."""
    latin_variants: ClassVar[frozenset[str]] = frozenset()
    """Variants that print Latin letters: on Chinese sheets only from ``LATIN_ON_ZH_FROM``."""
    teacher_only: ClassVar[bool] = False
    """The sheet is read by the teacher (a script, cards): no name, time limit or time taken."""

    def __init__(self) -> None:
        assert self.dimension in DIMENSIONS, self.dimension
        self._title = MappingProxyType(by_lang(f"kind.{self.name}.title", LANGS))
        self._variant_titles = {
            (lang, v): text(lang, f"kind.{self.name}.title_{v}")
            for lang in LANGS
            for v in self.variants
            if f"kind.{self.name}.title_{v}" in catalogue(lang)
        }

    @property
    def title(self) -> Mapping[str, str]:
        """The kind's title per language, from ``[kind.<name>] title`` in the catalogues."""
        return self._title

    def title_for(self, spec: ExerciseSpec) -> str:
        """The title of the sheet ``spec`` draws: ``title_<variant>`` when the catalogue has one.

        A kind whose variants are different tasks (colour words vs suns and
        moons) says which one the sheet is, on the sheet and in its file name.
        """
        lang = spec.lang
        return self._variant_titles.get((lang, self.variant_of(spec)), self._title[lang])

    # -- protocol ------------------------------------------------------------

    def sheet(self, spec: ExerciseSpec) -> Doc:
        """The child's A4 worksheet."""
        return self._doc(spec, SHEET)

    def answer_key(self, spec: ExerciseSpec) -> Doc:
        """The answer key, drawn from the same data as the sheet."""
        return self._doc(spec, KEY)

    def minutes(self, spec: ExerciseSpec) -> int:
        raise NotImplementedError

    def instructions(self, spec: ExerciseSpec) -> str:
        raise NotImplementedError

    def how_to_run(self, spec: ExerciseSpec) -> str:
        raise NotImplementedError

    # -- hooks ---------------------------------------------------------------

    def key_note(self, spec: ExerciseSpec) -> str:
        """What the key shows and how to score with it (printed on the key)."""
        return ""

    def young_text(self, spec: ExerciseSpec, key: str, **fields: object) -> str:
        """``kind.<name>.<key>``, or its ``<key>_young`` form at ages 4-5 when there is one
        (nothing to write, the teacher's pace)."""
        full = f"kind.{self.name}.{key}"
        if spec.age <= YOUNG_MAX_AGE and f"{full}_young" in catalogue(spec.lang):
            full += "_young"
        return text(spec.lang, full, **fields)

    def time_box(self, spec: ExerciseSpec) -> str:
        """The time limit printed top right: the lesson's minutes unless a kind has a norm."""
        return text(spec.lang, "page.time", m=self.minutes(spec))

    def needs_colour(self, spec: ExerciseSpec) -> bool:
        """True when the sheet cannot be done from a black-and-white print.

        Every kind keeps its distinctions in shape or fill as well as hue, so
        only a task that is about colour itself (the colour-word Stroop) says
        yes; the lesson plan tells the teacher to print those in colour.
        """
        return False

    def record(self, spec: ExerciseSpec) -> str:
        """Extra field printed right of the name line, e.g. time taken."""
        return text(spec.lang, "page.record")

    def default_variant(self, age: int, lang: str) -> str:
        """Variant used when ``spec.variant`` is empty or too hard for the age."""
        return self.variants[0]

    def variant_ok(self, variant: str, age: int, lang: str) -> bool:
        """Whether ``variant`` suits a child of ``age`` in a plan written in ``lang``."""
        if not self.variant_min_age.get(variant, MIN_AGE) <= age:
            return False
        if age > self.variant_max_age.get(variant, MAX_AGE):
            return False
        if lang not in self.variant_langs.get(variant, LANGS):
            return False
        return not (lang == "zh" and variant in self.latin_variants and age < LATIN_ON_ZH_FROM)

    def variants_for(self, age: int, lang: str = "zh") -> tuple[str, ...]:
        """The variants a child of ``age`` can do in ``lang`` (never empty); the planner
        rotates through these."""
        ok = tuple(v for v in self.variants if self.variant_ok(v, age, lang))
        return ok or (self.default_variant(age, lang),)

    def variant_of(self, spec: ExerciseSpec) -> str:
        """The variant actually drawn.

        An empty variant means "the usual one for this age and language". A
        variant that needs a skill the child is too young for (reading colour
        words, the alphabet, reversing digits) falls back to the age default,
        so a plan that rotates variants blindly still prints a sheet the child
        can do; instructions, sheet and key all follow this same choice.
        """
        v = spec.variant
        if v and self.variant_ok(v, spec.age, spec.lang):
            return v
        return self.default_variant(spec.age, spec.lang)

    def _data(self, spec: ExerciseSpec) -> Any:
        raise NotImplementedError

    def _sheet_body(self, spec: ExerciseSpec, data: Any) -> str:
        raise NotImplementedError

    def _key_body(self, spec: ExerciseSpec, data: Any) -> str:
        raise NotImplementedError

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        raise NotImplementedError

    def _key_bound(self, spec: ExerciseSpec) -> int:
        raise NotImplementedError

    # -- machinery -----------------------------------------------------------

    def check(self, spec: ExerciseSpec) -> None:
        """Reject specs this kind cannot draw: a wrong spec is a caller bug, not a blank page."""
        if spec.kind != self.name:
            raise ValueError(f"spec.kind {spec.kind!r} is not {self.name!r}")
        if not 1 <= spec.level <= MAX_LEVEL:
            raise ValueError(f"level {spec.level} outside 1..{MAX_LEVEL}")
        if not MIN_AGE <= spec.age <= MAX_AGE:
            raise ValueError(f"age {spec.age} outside {MIN_AGE}..{MAX_AGE}")
        if spec.lang not in LANGS:
            raise ValueError(f"lang {spec.lang!r} not in {LANGS}")
        if spec.variant and spec.variant not in self.variants:
            raise ValueError(f"variant {spec.variant!r} not in {self.variants} for {self.name}")
        if not 0 <= spec.seed < 2**64:
            raise ValueError("seed must be in 0..2**64-1")

    def _doc(self, spec: ExerciseSpec, part: str) -> Doc:
        self.check(spec)
        size = doc_size(self, part, spec.level, spec.age, spec.lang, spec.variant)
        return Doc(size, functools.partial(render_doc, self, part, spec, size))

    def frame(self, spec: ExerciseSpec, part: str) -> tuple[str, str]:
        """Head and tail of the page; depends on the seed only through the fixed-width code."""
        lang = spec.lang
        t = section(lang, "page")
        title = self.title_for(spec)
        code = sheet_code(spec.seed)
        meta = t["level"].format(
            dim=dimension_name(self.dimension, lang), level=spec.level, code=code
        )
        if part == SHEET and spec.age <= YOUNG_MAX_AGE:
            meta += t["read_aloud"]  # a pre-reader's sheet: the teacher reads it out
        head = [
            '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
            f'viewBox="0 0 210 297" data-kind="{self.name}" data-part="{part}" '
            f'data-level="{spec.level}" data-code="{code}">',
            f"<title>{esc(title if part == SHEET else t['key'].format(title=title))}</title>",
            f"<style>svg{{font-family:{FONTS[lang]};fill:#222}}{_CSS}{self.css}</style>",
            '<rect width="210" height="297" fill="#fff"/>',
        ]
        if part == SHEET and self.teacher_only:
            # The teacher reads from this page: no name line, no child's time
            # limit, no "time taken"; the box says whose page it is.
            head.append(f'<text x="15" y="19" class="h">{esc(title)}</text>')
            head.append('<rect x="150" y="11" width="45" height="11" rx="2" class="tb"/>')
            tag = esc(t["teacher_page"])
            head.append(f'<text x="172.5" y="18.2" class="tt" data-role="teacher">{tag}</text>')
            head.append(f'<text x="15" y="26.5" class="m">{esc(meta)}</text>')
            lines = wrap(self.instructions(spec), _EM_PER_LINE)
            top, room = 34.0, 4
            foot = t["foot"]
        elif part == SHEET:
            head.append(f'<text x="15" y="19" class="h">{esc(title)}</text>')
            head.append('<rect x="150" y="11" width="45" height="11" rx="2" class="tb"/>')
            head.append(f'<text x="172.5" y="18.2" class="tt">{esc(self.time_box(spec))}</text>')
            head.append(f'<text x="15" y="26.5" class="m">{esc(meta)}</text>')
            head.append(f'<text x="15" y="34" class="i">{esc(t["name"])}</text>')
            rec = self.record(spec)
            if rec:
                head.append(f'<text x="195" y="34" class="i e">{esc(rec)}</text>')
            lines = wrap(self.instructions(spec), _EM_PER_LINE)
            top, room = 41.5, 3
            foot = t["foot"]
        else:
            head.append(f'<text x="15" y="19" class="h">{esc(t["key"].format(title=title))}</text>')
            head.append(f'<text x="15" y="26.5" class="m">{esc(meta)}</text>')
            lines = wrap(self.key_note(spec), _EM_PER_LINE)
            top, room = 34.0, 4  # no name line on a key: the note starts higher
            foot = t["foot_key"]
        if len(lines) > room:
            raise ValueError(f"{self.name}: text needs {len(lines)} lines, the header has {room}")
        for i, line in enumerate(lines):
            head.append(f'<text x="15" y="{top + 6 * i:.1f}" class="i">{esc(line)}</text>')
        head.append('<line x1="15" y1="58.5" x2="195" y2="58.5" class="sep"/>')
        tail = f'<text x="105" y="{FOOTER_Y}" class="f">{esc(foot)}</text></svg>'
        return "".join(head), tail


@functools.cache
def doc_size(kind: Kind, part: str, level: int, age: int, lang: str, variant: str) -> int:
    """Exact size of a document: frame bytes + the kind's body bound + slack.

    Cached per parameter tuple (the seed never changes the size); a plan
    repeats few tuples, so a Doc's size costs a cache hit. The key space is
    bounded by validation: kinds x 2 parts x levels x ages x langs x variants.
    """
    spec = ExerciseSpec(kind.name, level, age, 0, lang, variant)
    head, tail = kind.frame(spec, part)
    body = kind._sheet_bound(spec) if part == SHEET else kind._key_bound(spec)
    return blen(head) + blen(tail) + body + SLACK


def render_doc(kind: Kind, part: str, spec: ExerciseSpec, size: int) -> bytes:
    """Draw one document and pad it to its promised size (pad_to raises if it overflows)."""
    data = kind._data(spec)
    head, tail = kind.frame(spec, part)
    body = kind._sheet_body(spec, data) if part == SHEET else kind._key_body(spec, data)
    return pad_to(head + body + tail, size)
