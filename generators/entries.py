"""A plan as an ordered list of archive entries, with every size known up front.

Layout of the archive (Chinese by default, English with ``lang=en``)::

    张三—4周训练方案/
      index.html                          plan overview
      第01周/第01课/教案.html               lesson plan
      第01周/第01课/打印本课.html            every child sheet of the lesson, one A4 page each
      第01周/第01课/打印答案.html            every answer key of the lesson, one A4 page each
      第01周/第01课/01_舒尔特方格.svg        worksheet
      第01周/第01课/答案/01_舒尔特方格_答案.svg answer key
      第01周/第01课/材料/01_<file>          centre's material (with --library)

Generated documents become ``ProducerSource`` entries: their exact size comes
from their parameters and their bytes are rendered only when the download
reaches them. Library files become ``FileSource`` entries sent with sendfile.
Everything is STORED: the material files (PDF, images, audio, video) are
already compressed, and compressing the generated SVG would need it rendered
before the first byte to know its size.

Timestamps come from the request's start date (or a fixed epoch when it has
none) and from the library files' mtimes, never from the clock, so the same
request gives the same bytes on any day and on any server.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass

from .archive import ArchiveLayout, Entry, ProducerSource
from .dimensions import LANGS
from .lessons import (
    answer_key_filename,
    exercise_filename,
    lesson_doc,
    lesson_doc_filename,
    lesson_folder,
    overview_doc,
)
from .library import Library
from .plan import Lesson, Plan, build_plan
from .printing import lesson_print_docs, print_filenames
from .render_cache import RenderCache
from .request import PlanRequest
from .texts import digest, text
from .worksheets import REGISTRY
from .worksheets.base import Doc

CODE_VERSION = "3"
"""Bump when any generator's drawing or layout changes."""

GENERATOR_VERSION = f"{CODE_VERSION}+texts.{digest(LANGS)[:16]}"
"""Part of every producer key and so of every ETag: the code version and a digest
of the text catalogues, so a changed wording never keeps a cached copy's ETag."""

FIXED_EPOCH = calendar.timegm((2025, 1, 1, 8, 0, 0))
"""Timestamp of every generated file of a plan without a start date."""


@dataclass(frozen=True, slots=True)
class PlanArchive:
    """What the server needs to answer for one plan: geometry, name, validators."""

    layout: ArchiveLayout
    filename: str
    etag: str  # strong, quoted
    last_modified: int  # Unix seconds: the newest entry's mtime
    largest_document: int = 0  # bytes of the largest generated entry (held whole while sent)


def _lesson_mtime(lesson: Lesson) -> int:
    if lesson.date is None:
        return FIXED_EPOCH
    return calendar.timegm(lesson.date.timetuple()) + 8 * 3600


def _producer(doc: Doc, key: str, cache: RenderCache | None) -> ProducerSource:
    key = f"{GENERATOR_VERSION}|{key}"
    render = doc.render if cache is None else cache.wrap(key, doc.render)
    return ProducerSource(doc.size, render, key)


def plan_entries(
    plan: Plan, library: Library | None = None, cache: RenderCache | None = None
) -> list[Entry]:
    """Every file of the plan in archive order; renders nothing."""
    req = plan.request
    lang = req.lang
    root = req.archive_root
    # A digest, not the request itself: producer keys reach ETags and error
    # messages, and a child's name and scores must reach neither.
    plan_key = hashlib.blake2b(req.canonical_bytes(), digest_size=16).hexdigest()
    start = (
        calendar.timegm(req.start_date.timetuple()) + 8 * 3600
        if req.start_date is not None
        else FIXED_EPOCH
    )
    overview = _producer(overview_doc(plan), f"overview|{plan_key}", cache)
    entries = [Entry(f"{root}/index.html", overview, start)]
    for lesson in plan.lessons:
        folder = f"{root}/{lesson_folder(lesson, lang)}"
        mtime = _lesson_mtime(lesson)
        entries.append(
            Entry(
                f"{folder}/{lesson_doc_filename(lang)}",
                _producer(lesson_doc(plan, lesson), f"lesson|{plan_key}|{lesson.index}", cache),
                mtime,
            )
        )
        sheets, keys, materials = _exercise_entries(lesson, folder, mtime, library, cache, lang)
        print_key = f"{plan_key}|{lesson.index}"
        entries.extend(_print_entries(folder, lesson, sheets, keys, lang, print_key, cache))
        entries.extend(sheets + keys + materials)
    return entries


def _exercise_entries(
    lesson: Lesson,
    folder: str,
    mtime: int,
    library: Library | None,
    cache: RenderCache | None,
    lang: str,
) -> tuple[list[Entry], list[Entry], list[Entry]]:
    """A lesson's sheets in order, their answer keys, and the centre's materials."""
    materials_folder = text(lang, "names.materials_folder")
    sheets: list[Entry] = []
    keys: list[Entry] = []
    materials: list[Entry] = []
    for ex in lesson.exercises:
        kind = REGISTRY[ex.kind]
        sheet_doc, key_doc = kind.sheet(ex.spec), kind.answer_key(ex.spec)
        spec_key = repr(ex.spec)
        sheet_name = exercise_filename(ex, REGISTRY, lang, sheet_doc.ext)
        key_name = answer_key_filename(ex, REGISTRY, lang, key_doc.ext)
        sheets.append(
            Entry(f"{folder}/{sheet_name}", _producer(sheet_doc, f"s|{spec_key}", cache), mtime)
        )
        keys.append(
            Entry(f"{folder}/{key_name}", _producer(key_doc, f"k|{spec_key}", cache), mtime)
        )
        if library is None:
            continue
        material = library.pick(ex.dimension, (ex.spec.level + 1) // 2, ex.spec.seed)
        if material is not None:
            name = f"{folder}/{materials_folder}/{ex.number:02d}_{material.name}"
            materials.append(Entry(name, material.source, material.mtime))
    return sheets, keys, materials


def _print_entries(
    folder: str,
    lesson: Lesson,
    sheets: list[Entry],
    keys: list[Entry],
    lang: str,
    key: str,
    cache: RenderCache | None,
) -> list[Entry]:
    """The lesson's two print files (sheets, keys): pages linked by their path in the folder."""

    def pages(group: list[Entry]) -> list[str]:
        return [e.name[len(folder) + 1 :] for e in group]

    sheets_doc, keys_doc = lesson_print_docs(
        pages(sheets), pages(keys), lesson_folder(lesson, lang).replace("/", " · "), lang
    )
    sheets_name, keys_name = print_filenames(lang)
    mtime = _lesson_mtime(lesson)
    return [
        Entry(f"{folder}/{sheets_name}", _producer(sheets_doc, f"ps|{key}", cache), mtime),
        Entry(f"{folder}/{keys_name}", _producer(keys_doc, f"pk|{key}", cache), mtime),
    ]


def build_archive(
    req: PlanRequest, library: Library | None = None, cache: RenderCache | None = None
) -> PlanArchive:
    """The plan's archive layout: total size, offsets and ETag, before any byte is made.

    With a ``cache``, generated documents are rendered through it, so repeat
    downloads of a plan in this process skip the rendering.
    """
    plan = build_plan(req)
    entries = plan_entries(plan, library, cache)
    layout = ArchiveLayout(entries)
    etag = f'"{layout.fingerprint()[:40]}"'
    last_modified = max((e.mtime for e in entries), default=FIXED_EPOCH)
    documents = (e.source.size for e in entries if isinstance(e.source, ProducerSource))
    largest = max(documents, default=0)
    return PlanArchive(layout, req.filename, etag, last_modified, largest)
